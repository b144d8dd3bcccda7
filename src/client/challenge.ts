/**
 * Challenge is one challenge of a `WWW-Authenticate` header (RFC 9110 §11.6.1): its scheme, and
 * either its auth-params (names lower-cased, the first of a repeated name kept) or a token68.
 */
export interface Challenge {
  scheme: string
  params: Record<string, string>
  token68?: string
}

// tchar (RFC 9110 §5.6.2), as a lookup over the ASCII range.
const tchar = new Uint8Array(128)
for (const c of "!#$%&'*+-.^_`|~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz")
  tchar[c.charCodeAt(0)] = 1
const token68Char = /[A-Za-z0-9\-._~+/]/

/**
 * parseChallenges reads every challenge of a `WWW-Authenticate` value: several challenges,
 * quoted strings with escapes, commas inside quotes, token68. It never throws: at the first
 * malformed part it stops and returns the challenges read whole so far (a challenge whose params
 * went wrong keeps the params read before the fault).
 */
export function parseChallenges(header: string): Challenge[] {
  const challenges: Challenge[] = []
  const reader = new Reader(typeof header === 'string' ? header : '')
  for (;;) {
    reader.skipListSeparators()
    if (reader.done) return challenges
    const scheme = reader.token()
    if (scheme === undefined) return challenges
    const challenge: Challenge = { scheme, params: Object.create(null) }
    challenges.push(challenge)
    if (!reader.spaces()) {
      // A scheme alone, then the end or the next list element.
      if (reader.done || reader.peek() === 44) continue
      return challenges
    }
    if (reader.done || reader.peek() === 44) continue
    const token68 = reader.token68()
    if (token68 !== undefined) {
      challenge.token68 = token68
      continue
    }
    if (!readParams(reader, challenge)) return challenges
  }
}

// auth-params until the next challenge; false when the header is malformed.
function readParams(reader: Reader, challenge: Challenge): boolean {
  for (let first = true; ; first = false) {
    if (!first) {
      const mark = reader.position
      reader.skipListSeparators()
      if (reader.done) return true
      // `name =` continues this challenge; anything else starts the next one.
      if (!reader.startsParam()) {
        reader.position = mark
        return true
      }
    }
    const name = reader.token()
    if (name === undefined) return false
    reader.whitespace()
    if (reader.peek() !== 61 /* = */) return false
    reader.position++
    reader.whitespace()
    const value = reader.peek() === 34 /* " */ ? reader.quoted() : reader.token()
    if (value === undefined) return false
    const key = name.toLowerCase()
    if (!(key in challenge.params)) challenge.params[key] = value
    reader.whitespace()
    if (!reader.done && reader.peek() !== 44 /* , */) return false
  }
}

class Reader {
  position = 0
  readonly #text: string

  constructor(text: string) {
    this.#text = text
  }

  get done(): boolean {
    return this.position >= this.#text.length
  }

  peek(): number {
    return this.#text.charCodeAt(this.position)
  }

  /** OWS. */
  whitespace(): void {
    while (this.peek() === 32 || this.peek() === 9) this.position++
  }

  /** 1*SP (tabs too, as BWS allows); whether there was any. */
  spaces(): boolean {
    const start = this.position
    this.whitespace()
    return this.position > start
  }

  /** Empty list elements and their whitespace (RFC 9110 §5.6.1). */
  skipListSeparators(): void {
    while (this.peek() === 32 || this.peek() === 9 || this.peek() === 44) this.position++
  }

  token(): string | undefined {
    const start = this.position
    for (let c = this.peek(); c < 128 && tchar[c] === 1; c = this.peek()) this.position++
    return this.position > start ? this.#text.slice(start, this.position) : undefined
  }

  /** A token68 that makes up the whole rest of the challenge; else nothing is consumed. */
  token68(): string | undefined {
    const text = this.#text
    let end = this.position
    while (end < text.length && token68Char.test(text[end] as string)) end++
    if (end === this.position) return undefined
    while (text.charCodeAt(end) === 61) end++
    let after = end
    while (text.charCodeAt(after) === 32 || text.charCodeAt(after) === 9) after++
    // `name=value` is a param, not a token68: a token68's `=`s only pad its end.
    if (after < text.length && text.charCodeAt(after) !== 44) return undefined
    const value = text.slice(this.position, end)
    this.position = after
    return value
  }

  /** Whether a `name BWS =` follows, without consuming it. */
  startsParam(): boolean {
    const mark = this.position
    const name = this.token()
    this.whitespace()
    const equals = name !== undefined && this.peek() === 61
    this.position = mark
    return equals
  }

  /** A quoted-string with its quoted-pairs resolved; undefined when it never ends or holds a control. */
  quoted(): string | undefined {
    const text = this.#text
    let value = ''
    for (let i = this.position + 1; i < text.length; i++) {
      let c = text.charCodeAt(i)
      if (c === 34) {
        this.position = i + 1
        return value
      }
      if (c === 92 /* \ */) {
        i++
        c = text.charCodeAt(i)
        if (Number.isNaN(c)) return undefined
      }
      if ((c < 32 && c !== 9) || c === 127) return undefined
      value += text[i]
    }
    return undefined
  }
}
