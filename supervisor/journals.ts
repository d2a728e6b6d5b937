// Where room journals live and when they go. The room writes its journal
// (rooms/journal.ts); the supervisor names it, one file per room life
// (dataDir/rooms/<room>~<random>.jsonl), and deletes it with the room.
import { mkdirSync, readdirSync, rmSync } from 'node:fs';
import { join as joinPath } from 'node:path';
import { nanoid } from 'nanoid';
import type { Config } from '../lib/config.js';

function journalDir(config: Config): string {
  return joinPath(config.dataDir, 'rooms');
}

/** The journal of a new room life. */
export function newJournalPath(config: Config, room: string): string {
  return joinPath(journalDir(config), `${room}~${nanoid(8)}.jsonl`);
}

/** A deleted room's journal goes too, unless keepJournals (names are unique per room life, so kept files are never reused). */
export function dropJournal(config: Config, path: string): void {
  if (config.keepJournals) return;
  rmSync(path, { force: true });
  // The room's seq mark (rooms/seq-guard.ts) goes with it.
  rmSync(path.replace(/\.jsonl$/, '.seq'), { force: true });
}

/**
 * Journals left by an earlier run belong to rooms that no longer exist
 * (a room given up or shut down is a new room next time: seq from 1).
 */
export function dropStaleJournals(config: Config): void {
  const dir = journalDir(config);
  mkdirSync(dir, { recursive: true });
  for (const f of readdirSync(dir)) {
    if (f.endsWith('.jsonl') || f.endsWith('.jsonl.tmp') || f.endsWith('.seq')) dropJournal(config, joinPath(dir, f));
  }
}
