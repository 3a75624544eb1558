// An 8-bit RGB image as the pipeline returns it, with PNG output.
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { PNG } from 'pngjs';
import { InvalidArgumentError, NotFoundError } from './errors';
import type { Tensor } from './tensor';

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

  /** Decodes PNG bytes (any bit depth or colour type; alpha is dropped). */
  static fromPNG(bytes: Uint8Array, what = 'PNG data'): Image {
    let png: PNG;
    try {
      png = PNG.sync.read(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength));
    } catch (e) {
      throw new InvalidArgumentError(`${what} is not a readable PNG: ${(e as Error).message}`, { cause: e });
    }
    // pngjs always hands back 8-bit RGBA.
    const rgb = new Uint8Array(png.width * png.height * 3);
    for (let i = 0, j = 0; i < rgb.length; i += 3, j += 4) {
      rgb[i] = png.data[j]!;
      rgb[i + 1] = png.data[j + 1]!;
      rgb[i + 2] = png.data[j + 2]!;
    }
    return new Image(png.width, png.height, rgb);
  }

  /** Reads a PNG file. */
  static async load(file: string): Promise<Image> {
    if (typeof file !== 'string' || file.length === 0) throw new InvalidArgumentError('Image.load needs a file path');
    let bytes: Buffer;
    try {
      bytes = await readFile(file);
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code === 'ENOENT' || code === 'ENOTDIR') throw new NotFoundError(`image ${file} does not exist`, { cause: e });
      throw new InvalidArgumentError(`cannot read image ${file}: ${(e as Error).message}`, { cause: e });
    }
    return Image.fromPNG(bytes, file);
  }

  /** Writes the PNG file, creating its folder when needed. */
  async savePNG(file: string): Promise<void> {
    if (typeof file !== 'string' || file.length === 0) throw new InvalidArgumentError('savePNG needs a file path');
    await mkdir(path.dirname(path.resolve(file)), { recursive: true });
    await writeFile(file, this.toPNG());
  }
}

/**
 * Images of one size as the engine's image tensor [N, 3, H, W] with values in
 * [-1, 1] (x / 127.5 - 1), the range the VAE and the preference model take.
 */
export function imagesToTensor(images: readonly Image[]): Tensor {
  if (!Array.isArray(images) || images.length === 0) throw new InvalidArgumentError('images must be a non-empty array of Image');
  const { width, height } = images[0]!;
  const plane = width * height;
  const data = new Float32Array(images.length * 3 * plane);
  images.forEach((img, n) => {
    if (!(img instanceof Image)) throw new InvalidArgumentError(`images[${n}] is not an Image`);
    if (img.width !== width || img.height !== height) {
      throw new InvalidArgumentError(`images[${n}] is ${img.width}x${img.height}, images[0] is ${width}x${height}: all must have one size`);
    }
    const base = n * 3 * plane;
    for (let p = 0; p < plane; ++p) {
      for (let c = 0; c < 3; ++c) data[base + c * plane + p] = img.data[p * 3 + c]! / 127.5 - 1;
    }
  });
  return { data, shape: [images.length, 3, height, width] };
}
