// Tensors cross into the engine as a flat Float32Array plus a shape (row-major).

export interface Tensor {
  data: Float32Array;
  shape: number[];
}

/** Number of elements a shape holds. */
export function numel(shape: readonly number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}

/** Builds a tensor, copying `values` into a Float32Array when needed. */
export function tensor(values: Float32Array | ArrayLike<number>, shape: readonly number[]): Tensor {
  const data = values instanceof Float32Array ? values : Float32Array.from(values);
  return { data, shape: [...shape] };
}
