/**
 * Symbol demangling for stack frames of Rust (v0 mangling, `_R...`) and C++
 * (Itanium, `_Z...`) code in the kernel, without parameters: enough to name
 * a frame in a title ("<rust_binder::process::Process>::update_ref").
 * Anything we cannot parse is returned unchanged. Bounded work per symbol.
 */

const MAX_SYMBOL = 512;
const MAX_DEPTH = 32;

export function demangle(name: string): string {
  if (name.length > MAX_SYMBOL) return name;
  try {
    if (name.startsWith('_R')) return new RustV0(name).symbol() ?? name;
    if (name.startsWith('_Z')) return itanium(name) ?? name;
  } catch {
    // fall through: keep the mangled name
  }
  return name;
}

class Fail extends Error {}

/** Rust v0: https://doc.rust-lang.org/rustc/symbol-mangling/v0.html (paths and common types). */
class RustV0 {
  private pos = 2;
  private depth = 0;
  constructor(private s: string) {}

  symbol(): string | null {
    if (this.isDigit()) this.decimal(); // encoding version
    const p = this.path();
    return p || null;
  }

  private peek(): string {
    return this.s[this.pos] ?? '';
  }
  private next(): string {
    if (this.pos >= this.s.length) throw new Fail();
    return this.s[this.pos++]!;
  }
  private isDigit(): boolean {
    const c = this.s.charCodeAt(this.pos);
    return c >= 48 && c <= 57;
  }
  private decimal(): number {
    let n = 0;
    if (!this.isDigit()) throw new Fail();
    while (this.isDigit()) {
      n = n * 10 + (this.s.charCodeAt(this.pos++) - 48);
      if (n > MAX_SYMBOL) throw new Fail();
    }
    return n;
  }
  private base62(): number {
    if (this.peek() === '_') {
      this.pos++;
      return 0;
    }
    let n = 0;
    for (;;) {
      const c = this.next();
      if (c === '_') return n + 1;
      const d = c >= '0' && c <= '9' ? c.charCodeAt(0) - 48 : c >= 'a' && c <= 'z' ? c.charCodeAt(0) - 87 : c >= 'A' && c <= 'Z' ? c.charCodeAt(0) - 29 : -1;
      if (d < 0) throw new Fail();
      n = n * 62 + d; // hashes overflow exactness; only small values (backrefs) are used
    }
  }
  private disambiguator(): void {
    if (this.peek() === 's') {
      this.pos++;
      this.base62();
    }
  }
  private ident(): string {
    this.disambiguator();
    if (this.peek() === 'u') throw new Fail(); // punycode: not needed for kernel symbols
    const len = this.decimal();
    if (this.peek() === '_') this.pos++;
    if (this.pos + len > this.s.length) throw new Fail();
    const id = this.s.slice(this.pos, this.pos + len);
    this.pos += len;
    return id;
  }
  private backref<T>(f: () => T): T {
    const at = this.base62() + 2;
    if (at >= this.pos) throw new Fail();
    const save = this.pos;
    this.pos = at;
    try {
      return f();
    } finally {
      this.pos = save;
    }
  }
  private enter(): void {
    if (++this.depth > MAX_DEPTH) throw new Fail();
  }

  private path(): string {
    this.enter();
    try {
      const c = this.next();
      switch (c) {
        case 'C':
          return this.ident();
        case 'M': {
          this.disambiguator();
          this.path(); // the impl's parent module: not printed
          return `<${this.type()}>`;
        }
        case 'X': {
          this.disambiguator();
          this.path();
          const t = this.type();
          return `<${t} as ${this.path()}>`;
        }
        case 'Y': {
          const t = this.type();
          return `<${t} as ${this.path()}>`;
        }
        case 'N': {
          const ns = this.next();
          const parent = this.path();
          const id = this.ident();
          if (ns === 'C') return `${parent}::{closure${id ? `:${id}` : ''}}`;
          if (ns >= 'A' && ns <= 'Z') return `${parent}::{${ns}${id ? `:${id}` : ''}}`;
          return id ? `${parent}::${id}` : parent;
        }
        case 'I': {
          const p = this.path();
          const args: string[] = [];
          while (this.peek() !== 'E') args.push(this.genericArg());
          this.pos++;
          return `${p}::<${args.join(', ')}>`;
        }
        case 'B':
          return this.backref(() => this.path());
        default:
          throw new Fail();
      }
    } finally {
      this.depth--;
    }
  }

  private genericArg(): string {
    const c = this.peek();
    if (c === 'L') {
      this.pos++;
      this.base62();
      return "'_";
    }
    if (c === 'K') {
      this.pos++;
      return this.constant();
    }
    return this.type();
  }

  private constant(): string {
    if (this.peek() === 'B') {
      this.pos++;
      return this.backref(() => this.constant());
    }
    this.type();
    if (this.peek() === 'p') {
      this.pos++;
      return '_';
    }
    let neg = '';
    if (this.peek() === 'n') {
      neg = '-';
      this.pos++;
    }
    let hex = '';
    while (this.peek() !== '_') hex += this.next();
    this.pos++;
    return neg + (hex ? BigInt('0x' + hex).toString() : '0');
  }

  private static BASIC: Record<string, string> = {
    a: 'i8', b: 'bool', c: 'char', d: 'f64', e: 'str', f: 'f32', h: 'u8', i: 'isize', j: 'usize',
    l: 'i32', m: 'u32', n: 'i128', o: 'u128', s: 'i16', t: 'u16', u: '()', v: '...', x: 'i64',
    y: 'u64', z: '!', p: '_',
  };

  private type(): string {
    this.enter();
    try {
      const c = this.peek();
      const basic = RustV0.BASIC[c];
      if (basic) {
        this.pos++;
        return basic;
      }
      switch (c) {
        case 'R':
        case 'Q': {
          this.pos++;
          if (this.peek() === 'L') {
            this.pos++;
            this.base62();
          }
          return (c === 'R' ? '&' : '&mut ') + this.type();
        }
        case 'P':
        case 'O':
          this.pos++;
          return (c === 'P' ? '*const ' : '*mut ') + this.type();
        case 'A': {
          this.pos++;
          const t = this.type();
          return `[${t}; ${this.constant()}]`;
        }
        case 'S':
          this.pos++;
          return `[${this.type()}]`;
        case 'T': {
          this.pos++;
          const ts: string[] = [];
          while (this.peek() !== 'E') ts.push(this.type());
          this.pos++;
          return `(${ts.join(', ')}${ts.length === 1 ? ',' : ''})`;
        }
        case 'B':
          this.pos++;
          return this.backref(() => this.type());
        case 'F':
        case 'D':
          throw new Fail(); // fn pointers and trait objects: rare in frame names
        default:
          return this.path();
      }
    } finally {
      this.depth--;
    }
  }
}

/** Itanium C++: the qualified function name only (no parameters). */
function itanium(s: string): string | null {
  let i = 2;
  const readName = (): string | null => {
    let n = 0;
    const d0 = i;
    while (i < s.length && s.charCodeAt(i) >= 48 && s.charCodeAt(i) <= 57) n = n * 10 + (s.charCodeAt(i++) - 48);
    if (i === d0 || n === 0 || i + n > s.length) return null;
    const id = s.slice(i, i + n);
    i += n;
    return id;
  };
  if (s[i] === 'N') {
    i++;
    while (s[i] === 'K' || s[i] === 'V' || s[i] === 'r') i++;
    const parts: string[] = [];
    while (i < s.length && s[i] !== 'E') {
      if (s[i] === 'S' && s[i + 1] === 't') {
        parts.push('std');
        i += 2;
        continue;
      }
      const id = readName();
      if (id === null) return null;
      parts.push(id);
    }
    return parts.length > 0 ? parts.join('::') : null;
  }
  return readName();
}
