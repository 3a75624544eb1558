// Where a model runs and the dtype of its frozen weights: declared here once,
// imported by every option, info and CLI type that names them.
export type Device = 'cpu' | 'cuda';
export type DType = 'fp32' | 'fp16' | 'bf16';
