// An 8-bit RGB image as the pipeline returns it, with PNG output.
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { PNG } from 'pngjs';
import { InvalidArgumentError } from './errors';

export class Image {
  /** Interleaved RGB rows, top to bottom: width * height * 3 bytes. */
  readonly data: Uint8Array;

  constructor(readonly width: number, readonly height: number, data: Uint8Array) {
    if (!Number.isInteger(width) || !Number.isInteger(height) || width < 1 || height < 1) {
      throw new InvalidArgumentError(`image size must be positive integers, got ${width}x${height}`);
    }
    if (!(data instanceof Uint8Array) || data.length !== width * height * 3) {
      throw new InvalidArgumentError(`an RGB image of ${width}x${height} needs ${width * height * 3} bytes`);
    }
    this.data = data;
  }

  /** The value (0..255) of channel `c` (0 R, 1 G, 2 B) at column x, row y. */
  pixel(x: number, y: number, c: number): number {
    return this.data[(y * this.width + x) * 3 + c]!;
  }

  /** The image as PNG bytes (RGB, 8 bits per channel). */
  toPNG(): Buffer {
    const png = new PNG({ width: this.width, height: this.height, colorType: 2, inputColorType: 2, inputHasAlpha: false });
    png.data = Buffer.from(this.data.buffer, this.data.byteOffset, this.data.byteLength);
    return PNG.sync.write(png, { colorType: 2, inputColorType: 2, inputHasAlpha: false });
  }

  /** Writes the PNG file, creating its folder when needed. */
  async savePNG(file: string): Promise<void> {
    if (typeof file !== 'string' || file.length === 0) throw new InvalidArgumentError('savePNG needs a file path');
    await mkdir(path.dirname(path.resolve(file)), { recursive: true });
    await writeFile(file, this.toPNG());
  }
}
