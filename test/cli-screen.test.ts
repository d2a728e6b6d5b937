// The screen arithmetic of the interactive CLI (client/cli-screen.ts) against
// a small terminal emulator: the escape sequences it writes put incoming
// lines above the input block and leave the block and the cursor where
// readline counts them, for every length of input, cursor place and width.
import t from 'tap';
import { frame, resizeFixup, type InputState } from '../client/cli-screen.js';

/** Enough of a VT100 for what readline and the screen write: text with deferred wrap, CR, LF, CUU/CUD/CUF/CUB/CHA, ED, EL. */
class Term {
  readonly history: string[] = [];
  grid: string[][];
  x = 0;
  y = 0;
  /** The last column was written: the next character wraps first. */
  pendingWrap = false;

  constructor(
    readonly w: number,
    readonly h: number,
  ) {
    this.grid = Array.from({ length: h }, () => Array<string>(w).fill(' '));
  }

  write(s: string): void {
    for (let i = 0; i < s.length; i++) {
      const c = s[i]!;
      if (c === '\x1b' && s[i + 1] === '[') {
        const m = /^\x1b\[(\d*)([A-Za-z])/.exec(s.slice(i))!;
        this.csi(m[1] === '' ? undefined : Number(m[1]), m[2]!);
        i += m[0].length - 1;
      } else if (c === '\r') {
        this.x = 0;
        this.pendingWrap = false;
      } else if (c === '\n') {
        this.pendingWrap = false;
        this.down();
      } else {
        if (this.pendingWrap) {
          this.x = 0;
          this.down();
          this.pendingWrap = false;
        }
        this.grid[this.y]![this.x] = c;
        if (this.x === this.w - 1) this.pendingWrap = true;
        else this.x++;
      }
    }
  }

  private down(): void {
    if (this.y < this.h - 1) {
      this.y++;
      return;
    }
    this.history.push(this.grid.shift()!.join('').trimEnd());
    this.grid.push(Array<string>(this.w).fill(' '));
  }

  private csi(n: number | undefined, op: string): void {
    this.pendingWrap = false;
    const k = n ?? 1;
    if (op === 'A') this.y = Math.max(0, this.y - k);
    else if (op === 'B') this.y = Math.min(this.h - 1, this.y + k);
    else if (op === 'C') this.x = Math.min(this.w - 1, this.x + k);
    else if (op === 'D') this.x = Math.max(0, this.x - k);
    else if (op === 'G') this.x = Math.min(this.w - 1, k - 1);
    else if (op === 'J') {
      for (let x = this.x; x < this.w; x++) this.grid[this.y]![x] = ' ';
      for (let y = this.y + 1; y < this.h; y++) this.grid[y] = Array<string>(this.w).fill(' ');
    } else if (op === 'K') for (let x = this.x; x < this.w; x++) this.grid[this.y]![x] = ' ';
    else throw new Error(`unexpected CSI ${op}`);
  }

  /** History and screen rows, trailing blanks dropped. */
  rows(): string[] {
    const all = [...this.history, ...this.grid.map((r) => r.join('').trimEnd())];
    while (all.length > 0 && all[all.length - 1] === '') all.pop();
    return all;
  }
}

/** What readline's getCursorPos() gives for ASCII text at width w. */
function pos(chars: number, w: number) {
  return { rows: Math.floor(chars / w), cols: chars % w };
}

function state(prompt: string, line: string, cursor: number, w: number): InputState {
  return { text: prompt + line, cursor: pos(prompt.length + cursor, w), end: pos(prompt.length + line.length, w) };
}

/** The input block as the screen shows it: rows from the block's start, joined. */
function blockText(term: Term, startRow: number, chars: number): string {
  const rows = term.grid.slice(startRow, startRow + Math.floor(chars / term.w) + 1).map((r) => r.join(''));
  return rows.join('').slice(0, chars);
}

t.test('incoming lines land above the input block, once, for any input length, cursor place and width', async (t) => {
  const prompt = '[room]> ';
  for (const w of [20, 37, 80]) {
    for (const len of [0, 1, w - prompt.length - 1, w - prompt.length, w - prompt.length + 1, 2 * w - prompt.length, 2 * w + 5, 3 * w]) {
      const line = 'abcdefghijklmnopqrstuvwxyz0123456789'.repeat(10).slice(0, len);
      for (const cursor of new Set([len, Math.floor(len / 2), 0])) {
        const term = new Term(w, 12);
        term.write('before\r\n');
        const s = state(prompt, line, cursor, w);
        term.write(frame(s, [], 0)); // drawn from a fresh row: nothing above it is the block
        let sent = 0;
        for (const batch of [['one'], ['two', 'three'], Array.from({ length: 15 }, (_, i) => `burst ${i}`)]) {
          term.write(frame(s, batch));
          sent += batch.length;
        }
        const where = `w=${w} len=${len} cursor=${cursor}`;
        const rows = term.rows();
        const expected = ['before', 'one', 'two', 'three', ...Array.from({ length: 15 }, (_, i) => `burst ${i}`)];
        t.same(rows.slice(0, expected.length), expected, `${where}: every line once, in order`);
        t.equal(sent + 1, expected.length);
        // The block starts right after the last line; the cursor sits where readline counts it.
        const start = term.y - s.cursor.rows;
        t.equal(blockText(term, start, s.text.length), s.text, `${where}: the input intact`);
        t.equal(term.x, s.cursor.cols, `${where}: cursor column`);
        t.equal(term.grid[start - 1]!.join('').trimEnd(), 'burst 14', `${where}: the block right below the last line`);
      }
    }
  }
});

t.test('a line that exactly fills the width is followed by no empty row', async (t) => {
  const term = new Term(10, 6);
  const s = state('> ', 'abc', 3, 10);
  term.write(frame(s, ['0123456789', 'x']));
  t.same(term.rows(), ['0123456789', 'x', '> abc']);
});

t.test('a block taken off after Enter (cursor below it): the prompt comes back where the block began', async (t) => {
  const term = new Term(10, 6);
  const typed = state('> ', 'hello world!', 12, 10);
  term.write('top\r\n');
  term.write(frame(typed, [], 0));
  term.write('\r\n'); // readline's newline after Enter
  const empty = state('> ', '', 0, 10);
  term.write(frame(empty, [], typed.end.rows + 1));
  t.same(term.rows(), ['top', '>']);
  t.equal(term.y, 1);
});

t.test('resizeFixup: up when the block grew, line feeds when it shrank', async (t) => {
  t.equal(resizeFixup(3, 2), '\r\x1b[1A');
  t.equal(resizeFixup(1, 3), '\r\n\n');
  t.equal(resizeFixup(2, 2), '');
  // From a reflowed block, readline's move up by the old count then lands on the block's start.
  for (const [now, before] of [[3, 1], [0, 2], [2, 2]] as const) {
    const term = new Term(10, 8);
    term.y = 4 + now; // the block starts at row 4
    term.write(resizeFixup(now, before));
    term.write(before > 0 ? `\x1b[${before}A` : '');
    t.equal(term.y, 4, `now ${now}, before ${before}`);
  }
});
