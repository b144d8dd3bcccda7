/** discard lets go of a body we will not read (a redirect, a refused answer, a spare copy), quietly. */
export function discard(message: Request | Response): Promise<void> {
  return message.body?.cancel().catch(() => {}) ?? Promise.resolve()
}
