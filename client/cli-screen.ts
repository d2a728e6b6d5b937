// The interactive screen: incoming lines scroll above the line being typed,
// whatever its length and the terminal's width.
//
// readline keeps the input as a block of rows that starts at the prompt, and
// redraws it by moving up `prevRows` (the cursor's row within the block) from
// wherever the cursor is. Anything else that writes must therefore leave the
// cursor where readline thinks it is: at the same row and column relative to
// the start of the block. Every write here goes to the start of the block,
// clears down, writes the incoming lines, then draws the prompt and the input
// again and puts the cursor back at its place in the input, as readline's own
// refresh does, in one write.
import { clearScreenDown, cursorTo, moveCursor, type Interface } from 'node:readline';

/** A display position relative to the start of the prompt, as readline counts it. */
export interface Pos {
  rows: number;
  cols: number;
}

/** The input block as readline holds it. */
export interface InputState {
  /** The prompt and the input, as written. */
  text: string;
  /** Where the cursor is in the block. */
  cursor: Pos;
  /** Where the text ends. */
  end: Pos;
}

/** Collects what readline's cursor helpers write, so a whole redraw is one write. */
class Collector {
  s = '';
  write(d: string): boolean {
    this.s += d;
    return true;
  }
}

/**
 * The escape sequences that print `lines` above the input block and draw the
 * block again, from a terminal whose cursor is at `input.cursor` in the block.
 * `cursorRow` is the row the cursor is on now, when it differs from the one in
 * `input` (right after readline moved it: see Screen.submitted).
 */
export function frame(input: InputState, lines: readonly string[], cursorRow = input.cursor.rows): string {
  const o = new Collector();
  cursorTo(o as unknown as NodeJS.WritableStream, 0);
  if (cursorRow > 0) moveCursor(o as unknown as NodeJS.WritableStream, 0, -cursorRow);
  clearScreenDown(o as unknown as NodeJS.WritableStream);
  // \r first: a line that exactly fills the width leaves the cursor in the
  // last column, waiting to wrap; \r cancels that wrap, so no empty row follows.
  for (const line of lines) o.write(`${line}\r\n`);
  o.write(input.text);
  // The text ends exactly at the right edge: the terminal has not wrapped yet
  // but readline counts the cursor on the next row. A space makes the wrap happen.
  if (input.end.cols === 0) o.write(' ');
  cursorTo(o as unknown as NodeJS.WritableStream, input.cursor.cols);
  const up = input.end.rows - input.cursor.rows;
  if (up > 0) moveCursor(o as unknown as NodeJS.WritableStream, 0, -up);
  return o.s;
}

/**
 * After a resize, a terminal that reflows wrapped rows (tmux, VTE, iTerm2,
 * kitty, Windows Terminal...) has moved the cursor to its row at the new
 * width (`now`), but readline will move up by the row it counted at the old
 * width (`before`) to redraw. This moves the cursor to `before` rows below the
 * start of the block so that readline lands on the start of the block. Line
 * feeds, not cursor-down, when going down: at the bottom of the screen they
 * scroll, keeping the distance to the block's start.
 */
export function resizeFixup(now: number, before: number): string {
  if (now > before) return `\r\x1b[${now - before}A`;
  if (now < before) return '\r' + '\n'.repeat(before - now);
  return '';
}

type Out = NodeJS.WritableStream & { columns?: number; _refreshSize?: () => void };

/** The readline members the screen reads: public, documented fields and methods. */
type Rl = Pick<Interface, 'getPrompt' | 'getCursorPos' | 'line' | 'cursor' | 'on' | 'once'> & { line: string; cursor: number };

export class Screen {
  private pending: string[] = [];
  private scheduled = false;
  private closed = false;
  /** The cursor's row in the block at the width the block was last drawn at. */
  private drawnRow = 0;

  /**
   * tty false: plain lines, nothing redrawn (a pipe, or a terminal readline
   * does not drive). input is the keyboard stream readline reads.
   */
  constructor(
    private readonly rl: Rl,
    private readonly out: Out,
    private readonly tty: boolean,
    input?: NodeJS.EventEmitter,
  ) {
    if (!tty) return;
    // After readline has handled a key, its count of rows is the cursor's row at this width.
    input?.on('keypress', () => this.noteRow());
    // Runs before readline's own redraw on resize (registered when the interface was made).
    this.out.prependListener('resize', this.onResize);
    rl.once('close', () => this.out.removeListener('resize', this.onResize));
  }

  /** Shows a line above the input. Lines printed in one turn of the event loop go out in one write. */
  print(line: string): void {
    if (!this.tty || this.closed) {
      this.out.write(`${line}\n`);
      return;
    }
    this.pending.push(line);
    if (this.scheduled) return;
    this.scheduled = true;
    setImmediate(() => this.flush());
  }

  /** Writes what print() holds now. */
  flush(): void {
    this.scheduled = false;
    // The terminal may have been resized with its SIGWINCH not handled yet
    // (a datagram came first): drawn now, the block would be measured at the
    // old width. Node's tty stream asks the OS for its size here and runs
    // the 'resize' handlers (this screen's, then readline's redraw) at once
    // if it changed. An undocumented method, as readline's prevRows is;
    // without it, the race stays.
    if (this.pending.length > 0 && !this.closed) this.out._refreshSize?.();
    if (this.pending.length === 0) return;
    const lines = this.pending;
    this.pending = [];
    if (this.closed) {
      this.out.write(lines.map((l) => `${l}\n`).join(''));
      return;
    }
    this.out.write(frame(this.state(), lines));
    this.noteRow();
  }

  /** Draws the prompt and input again (after the prompt changed). */
  redraw(): void {
    if (!this.tty || this.closed) return;
    this.flush();
    this.out.write(frame(this.state(), []));
    this.noteRow();
  }

  /**
   * Called from readline's 'line' event, when readline has moved the cursor
   * below the typed block and forgotten it. erase: take the typed block off
   * the screen (a chat line: the room's copy of it will be shown instead).
   * Either way the prompt is drawn again at once, so the next line can be typed.
   */
  submitted(line: string, erase: boolean): void {
    if (!this.tty || this.closed) return;
    this.flush();
    const rows = erase ? this.measure(line, line.length).rows + 1 : 0;
    this.out.write(frame(this.state(), [], rows));
    this.noteRow();
  }

  /** The input is gone (readline closed): take the prompt off, and print plainly from now on. */
  close(): void {
    if (this.closed) return;
    if (this.tty) {
      const lines = this.pending;
      this.pending = [];
      const o = new Collector();
      cursorTo(o as unknown as NodeJS.WritableStream, 0);
      if (this.drawnRow > 0) moveCursor(o as unknown as NodeJS.WritableStream, 0, -this.drawnRow);
      clearScreenDown(o as unknown as NodeJS.WritableStream);
      this.out.write(o.s + lines.map((l) => `${l}\r\n`).join(''));
    }
    this.closed = true;
  }

  private readonly onResize = (): void => {
    if (this.closed) return;
    const now = this.rl.getCursorPos().rows;
    this.out.write(resizeFixup(now, this.drawnRow));
    // readline's redraw comes next and counts at the new width.
    this.drawnRow = now;
  };

  /**
   * Records the cursor's row in the block, and tells readline. readline only
   * counts rows when it redraws: text that arrives in one chunk (a paste, or
   * keys faster than the event loop) is echoed without a redraw, leaving its
   * count at the row where the chunk began, and its next redraw would start
   * that many rows too low. The terminal's cursor is where getCursorPos()
   * says after every key and every draw here, so that is the count to keep.
   */
  private noteRow(): void {
    if (this.closed) return;
    this.drawnRow = this.rl.getCursorPos().rows;
    const rl = this.rl as { prevRows?: unknown };
    if (typeof rl.prevRows === 'number') rl.prevRows = this.drawnRow;
  }

  private state(): InputState {
    return { text: this.rl.getPrompt() + this.rl.line, cursor: this.rl.getCursorPos(), end: this.measure(this.rl.line, this.rl.line.length) };
  }

  /**
   * Where the prompt plus `line` up to `cursor` ends, by readline's own
   * arithmetic (wide characters, tabs): getCursorPos() on that text, with
   * the interface's line and cursor put back at once.
   */
  private measure(line: string, cursor: number): Pos {
    const rl = this.rl;
    const [savedLine, savedCursor] = [rl.line, rl.cursor];
    try {
      rl.line = line;
      rl.cursor = cursor;
      return rl.getCursorPos();
    } finally {
      rl.line = savedLine;
      rl.cursor = savedCursor;
    }
  }
}
