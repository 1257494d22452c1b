/**
 * Preloaded (`node --import`) into every server the bench starts: if the bench dies without cleaning up (SIGKILL,
 * an out-of-memory kill), its servers are reparented and would keep their ports and CPU. This notices the change of
 * parent within half a second and stops the server as SIGTERM would (gracefully, so a --cpu-prof profile is still
 * written). Two timer ticks a second: nothing a measurement can see.
 */
const parent = process.ppid
setInterval(() => {
  if (process.ppid !== parent) process.kill(process.pid, 'SIGTERM')
}, 500).unref()
