// Splits a streamed Kubernetes list response into its items as the text arrives, so each item is parsed and shaped
// on its own and a page of full objects never exists at once (5,000 pods parsed whole cost ~60 MB of heap churn).

// Depth of the items array's elements: inside the document object (1) and the array (2).
const ITEMS = 2;

/**
 * Streaming splitter for `{"kind":…,"metadata":{…},"items":[{…},{…}]}`: `push()` text chunks in order; every
 * top-level `items` element is handed to `onItem` as parsed JSON; `end()` returns the rest of the document (with
 * `items` empty). Throws (a SyntaxError from JSON.parse) when the text is not valid JSON.
 */
export class ListSplitter {
  readonly #onItem: (item: unknown) => void;
  #depth = 0;
  #inString = false;
  #escaped = false;
  /** Before, inside or after the top-level `items` array (whose contents sit at depth 2). */
  #phase: 'before' | 'items' | 'after' = 'before';
  /** Parts of the element being read, or undefined between elements. */
  #element: string[] | undefined;
  readonly #envelope: string[] = [];
  /** The last string closed at depth 1 (a key or a short value), to recognise `"items":[`. */
  #lastKey = '';
  #key: string[] | undefined;

  constructor(onItem: (item: unknown) => void) {
    this.#onItem = onItem;
  }

  /** Feeds the next chunk of the response text. */
  push(chunk: string): void {
    const n = chunk.length;
    // Where the current run of envelope text, element text or depth-1 string started in this chunk.
    let envFrom = this.#phase === 'items' ? -1 : 0;
    let elemFrom = this.#element ? 0 : -1;
    let keyFrom = this.#key ? 0 : -1;
    for (let i = 0; i < n; i++) {
      const c = chunk.charCodeAt(i);
      if (this.#inString) {
        if (this.#escaped) this.#escaped = false;
        else if (c === 92) this.#escaped = true;
        else if (c === 34) {
          this.#inString = false;
          if (this.#key) {
            this.#key.push(chunk.slice(keyFrom, i));
            this.#lastKey = this.#key.join('');
            this.#key = undefined;
            keyFrom = -1;
          }
        }
        continue;
      }
      if (c === 34) {
        this.#inString = true;
        if (this.#depth === 1) {
          this.#key = [];
          keyFrom = i + 1;
        }
      } else if (c === 123 || c === 91) {
        if (this.#phase === 'items' && this.#depth === ITEMS) {
          this.#element = [];
          elemFrom = i;
        }
        this.#depth++;
        if (c === 91 && this.#depth === ITEMS && this.#phase === 'before' && this.#lastKey === 'items') {
          this.#phase = 'items';
          this.#envelope.push(chunk.slice(envFrom, i + 1));
          envFrom = -1;
        }
      } else if (c === 125 || c === 93) {
        this.#depth--;
        if (this.#element && this.#depth === ITEMS) {
          this.#element.push(chunk.slice(elemFrom, i + 1));
          const text = this.#element.join('');
          this.#element = undefined;
          elemFrom = -1;
          this.#onItem(JSON.parse(text));
        } else if (this.#phase === 'items' && this.#depth === ITEMS - 1) {
          // The items array closed: back to copying the envelope, from this `]` on.
          this.#phase = 'after';
          envFrom = i;
        }
      }
    }
    if (envFrom >= 0) this.#envelope.push(chunk.slice(envFrom));
    if (this.#element && elemFrom >= 0) this.#element.push(chunk.slice(elemFrom));
    if (this.#key && keyFrom >= 0) {
      this.#key.push(chunk.slice(keyFrom));
      // Keys are short; a long depth-1 string is a value that cannot be `items`.
      if (this.#key.join('').length > 16) this.#key = ['-long-'];
    }
  }

  /** The document without its items (parsed); throws when the text was cut short or is not JSON. */
  end(): Record<string, unknown> {
    const doc: unknown = JSON.parse(this.#envelope.join(''));
    if (!doc || typeof doc !== 'object' || Array.isArray(doc))
      throw new SyntaxError('a list is not a JSON object');
    return doc as Record<string, unknown>;
  }
}
