/**
 * Text given for something else that may hold a private key, and how messages quote it. A leaf module: the
 * main CLI's option parsing (config/) and the emulator's own flags both use it, and neither may import the other.
 */

/**
 * Whether text given for something else may hold a private key: one of ImageKit's (`private_…`), or the
 * configured one (`privateKey`). Messages then leave the text out: a key pasted on the wrong line of a
 * config file, into the wrong variable or flag, or left among the arguments by `--private-key= KEY` must not
 * be printed back.
 */
export function mayHoldPrivateKey(text: string, privateKey = ''): boolean {
  return /private_\S/.test(text) || (privateKey.length >= 4 && text.includes(privateKey))
}

/** `"text"` for a message, or a note that it is not shown when it may hold a private key. */
export function quotedUnlessKey(text: string, privateKey = ''): string {
  return mayHoldPrivateKey(text, privateKey) ? 'a value that looks like a private key (not shown)' : JSON.stringify(text)
}
