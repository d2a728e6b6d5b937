import t from 'tap';
import { checkText, isValidRoomName, MAX_NICK_CHARS, nickKey, normalizeNick } from '../lib/names.js';

const E_COMPOSED = '\u00e9'; // é as one code point
const E_DECOMPOSED = 'e\u0301'; // e + combining acute accent
const EMOJI = '\u{1F600}';

t.test('room names of 1-64 letters, digits, dot, underscore and dash are valid', async (t) => {
  for (const name of ['a', 'Z', '0', 'lobby', 'Room_1', 'a.b-c_d', '...', '-', 'x'.repeat(64), 'ABCxyz0129._-']) {
    t.equal(isValidRoomName(name), true, JSON.stringify(name));
  }
});

t.test('other room names are refused', async (t) => {
  const cases: Record<string, string> = {
    empty: '',
    '65 characters': 'x'.repeat(65),
    'a space': 'my room',
    'a leading space': ' lobby',
    'a trailing newline': 'lobby\n',
    'a tab': 'a\tb',
    'a slash': 'a/b',
    'a colon': 'a:b',
    'an accented letter': `caf${E_COMPOSED}`,
    'a Cyrillic a that looks Latin': 'lobby\u0430',
    'an emoji': `room${EMOJI}`,
    'a fullwidth letter': '\uff41',
    'a NUL': 'a\0',
    'a plus': 'a+b',
  };
  for (const [what, name] of Object.entries(cases)) t.equal(isValidRoomName(name), false, what);
});

t.test('a nick is returned in NFC form', async (t) => {
  const n = normalizeNick(`Ren${E_DECOMPOSED}e`);
  t.equal(n, `Ren${E_COMPOSED}e`);
  t.equal(n?.length, 5, 'the decomposed é became one code point');
  t.equal(normalizeNick(`Ren${E_COMPOSED}e`), `Ren${E_COMPOSED}e`, 'an NFC nick is unchanged');
  t.equal(normalizeNick('\u1100\u1161'), '\uac00', 'Hangul jamo compose');
});

t.test('a nick is counted in code points after normalization', async (t) => {
  t.equal(MAX_NICK_CHARS, 32);
  t.equal(normalizeNick('a'), 'a');
  t.equal(normalizeNick('n'.repeat(32)), 'n'.repeat(32), '32 characters');
  t.equal(normalizeNick('n'.repeat(33)), null, '33 characters');
  t.equal(normalizeNick(EMOJI.repeat(32)), EMOJI.repeat(32), '32 emoji (64 UTF-16 units)');
  t.equal(normalizeNick(EMOJI.repeat(33)), null, '33 emoji');
  t.equal(normalizeNick(E_DECOMPOSED.repeat(32)), E_COMPOSED.repeat(32), '64 code points before NFC, 32 after');
  t.equal(normalizeNick(E_DECOMPOSED.repeat(33)), null, '33 after NFC');
  t.equal(normalizeNick(''), null, 'empty');
});

t.test('letters, marks, numbers, punctuation and symbols make a nick', async (t) => {
  const ok = [
    'alice',
    'Bob_99',
    'o\'neil',
    'x-y.z',
    '\u00bfqu\u00e9?',
    '\u738b\u5c0f\u660e', // CJK
    '\u0645\u062d\u0645\u062f', // Arabic
    '\u0928\u092e\u0938\u094d\u0924\u0947', // Devanagari with combining marks
    EMOJI,
    '\u2764\ufe0f', // heart + variation selector (a mark)
    '\u2603', // snowman symbol
    '$\u20ac\u00a3',
    '\u00bd\u2167', // number forms
    '(^_^)/',
    '<script>',
    '\u{1D538}\u{1D539}', // mathematical double-struck letters (astral)
  ];
  for (const nick of ok) t.equal(normalizeNick(nick), nick.normalize('NFC'), `accepts ${JSON.stringify(nick)}`);
});

t.test('whitespace, control and format characters are refused in nicks', async (t) => {
  const refused: Record<string, string> = {
    'a space': 'ann smith',
    'a leading space': ' ann',
    'a trailing space': 'ann ',
    'a tab': 'ann\t',
    'a newline': 'ann\n',
    'a no-break space': 'ann\u00a0b',
    'an ideographic space': 'ann\u3000b',
    'a NUL': 'ann\0',
    'DEL': 'ann\u007f',
    'an ANSI escape': '\u001b[31mred',
    'a C1 control': 'ann\u009b',
    'the bidi override U+202E': 'ann\u202egpj.exe',
    'the bidi isolate U+2066': '\u2066ann',
    'the zero-width joiner U+200D': 'an\u200dn',
    'the zero-width space U+200B': 'an\u200bn',
    'the zero-width non-joiner U+200C': 'an\u200cn',
    'a soft hyphen U+00AD': 'an\u00adn',
    'a byte order mark U+FEFF': '\ufeffann',
    'a lone surrogate': 'ann\ud800',
    'a private-use character': 'ann\ue000',
    'an unassigned code point': 'ann\u0378',
    'a line separator U+2028': 'ann\u2028',
    'a ZWJ emoji sequence (it holds U+200D)': '\u{1F468}\u200d\u{1F469}',
  };
  for (const [what, nick] of Object.entries(refused)) t.equal(normalizeNick(nick), null, what);
});

t.test('nickKey compares nicks after lower-casing', async (t) => {
  t.equal(nickKey('Alice'), nickKey('ALICE'));
  t.equal(nickKey('Alice'), 'alice');
  t.equal(nickKey(normalizeNick(`REN${'E\u0301'}E`)!), nickKey(normalizeNick(`ren${E_DECOMPOSED}e`)!), 'accented capitals match after NFC');
  t.equal(nickKey('\u0394\u03b5\u03bb\u03c4\u03b1'), nickKey('\u0394\u0395\u039b\u03a4\u0391'), 'Greek');
  t.not(nickKey('alice'), nickKey('al1ce'));
  t.not(nickKey('alice'), nickKey('\u0430lice'), 'a Cyrillic a stays distinct');
  t.equal(nickKey(EMOJI), EMOJI, 'symbols are unchanged');
});

t.test('nickKey of an NFC nick is NFC again', async (t) => {
  // U+0130 (I with dot above) lower-cases to i + U+0307, which NFC keeps as two code points.
  const k = nickKey('\u0130stanbul');
  t.equal(k, k.normalize('NFC'));
  t.equal(k, 'i\u0307stanbul');
});

t.test('checkText refuses empty text', async (t) => {
  t.equal(checkText('', 10), 'empty');
});

t.test('checkText counts code points against the limit', async (t) => {
  t.equal(checkText('x'.repeat(10), 10), 'ok');
  t.equal(checkText('x'.repeat(11), 10), 'too-long');
  t.equal(checkText(EMOJI.repeat(10), 10), 'ok', '10 emoji are 20 UTF-16 units but 10 characters');
  t.equal(checkText(EMOJI.repeat(11), 10), 'too-long');
  t.equal(checkText(E_DECOMPOSED.repeat(5), 10), 'ok', 'combining marks count as characters');
  t.equal(checkText(E_DECOMPOSED.repeat(6), 10), 'too-long', 'text is not normalized before counting');
});

t.test('checkText refuses control characters', async (t) => {
  const cases: Record<string, string> = {
    'a newline': 'line one\nline two',
    'a carriage return': 'a\rb',
    'a tab': 'a\tb',
    'a NUL': 'a\0',
    'an ANSI escape': '\u001b[2J',
    'DEL': '\u007f',
    'a C1 control': 'a\u0085b',
  };
  for (const [what, text] of Object.entries(cases)) t.equal(checkText(text, 100), 'control', what);
});

t.test('checkText accepts ordinary text, emoji, spaces and punctuation', async (t) => {
  for (const text of ['hello', 'hello, world!', `caf${E_COMPOSED} ${EMOJI} \u2764\ufe0f`, ' ', '\u738b\u5c0f\u660e', '\u{1F468}\u200d\u{1F469}']) {
    t.equal(checkText(text, 100), 'ok', JSON.stringify(text));
  }
});

t.test('checkText reports too-long before control characters', async (t) => {
  t.equal(checkText('\n'.repeat(11), 10), 'too-long');
});
