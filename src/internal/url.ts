/** redactUrl drops the query and fragment of a URL for events and errors: they may carry secrets. */
export function redactUrl(url: string): string {
  const end = url.search(/[?#]/)
  return end < 0 ? url : url.slice(0, end)
}
