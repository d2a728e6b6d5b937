// What a failed file-system call means, in words for a member or an
// operator. Members never see a server path or a stack (the error's own
// message names the file), only the cause; operators get the same words in
// the log with the errno code beside them.
const CAUSES: Readonly<Record<string, string>> = {
  ENOSPC: "the server's disk is full",
  EDQUOT: "the server's disk quota is used up",
  EROFS: "the server's data directory is read-only",
  EACCES: "the server may not write its data directory",
  EPERM: "the server may not write its data directory",
  EIO: "the server's disk reported an I/O error",
  EMFILE: 'the server has too many open files',
  ENFILE: 'the server has too many open files',
  ENOTDIR: "the server's data directory is not a directory",
  ENOENT: "the server's data directory is missing",
  EFBIG: 'the journal file is too large',
  SHORT_WRITE: "the server's disk accepted only part of a write",
};

/** The errno code of a thrown file-system error, or undefined. */
export function errnoCode(err: unknown): string | undefined {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'string' ? code : undefined;
}

/** A cause in words, without paths: "the server's disk is full". */
export function storageCause(err: unknown): string {
  const code = errnoCode(err);
  return (code && CAUSES[code]) ?? `the server's storage failed${code ? ` (${code})` : ''}`;
}
