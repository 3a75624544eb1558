// Arguments as the addon takes them. Not part of the package's API.

/** Drops undefined fields: the engine treats a present key as given. Keeps the object's type. */
export function withoutUndefined<T extends object>(o: T): T {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as T;
}
