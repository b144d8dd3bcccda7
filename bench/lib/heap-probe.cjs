// Preloaded into a process under test (node --expose-gc --require …): on the IPC message 'heap',
// collects garbage and answers with the heap in use, so a benchmark can watch another process's memory.
process.on('message', (message) => {
  if (message !== 'heap') return
  globalThis.gc?.()
  globalThis.gc?.()
  process.send?.({ heapUsed: process.memoryUsage().heapUsed })
})
// The IPC channel must not keep a program alive that would otherwise exit.
process.channel?.unref()
