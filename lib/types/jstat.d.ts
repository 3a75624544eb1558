// The one part of jStat the package uses (jstat ships no type declarations).
declare module 'jstat' {
  export const jStat: {
    studentt: {
      /** The quantile of Student's t distribution with `dof` degrees of freedom at probability `p`. */
      inv(p: number, dof: number): number;
    };
  };
}
