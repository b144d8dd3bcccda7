# The smoke test as a workerd Worker. run.mjs copies this file, worker.mjs and the esbuild bundle
# (bundle.mjs) into one folder and serves it with `--socket-addr http=127.0.0.1:0`; the port comes
# back on `--control-fd`. Outbound fetches may reach only this machine: the servers are on 127.0.0.1.
using Workerd = import "/workerd/workerd.capnp";

const config :Workerd.Config = (
  services = [
    (name = "smoke", worker = .smokeWorker),
    (name = "loopback", network = (allow = ["local"])),
  ],
  sockets = [(name = "http", address = "127.0.0.1:0", http = (), service = "smoke")],
);

const smokeWorker :Workerd.Worker = (
  modules = [
    (name = "worker.mjs", esModule = embed "worker.mjs"),
    (name = "bundle.mjs", esModule = embed "bundle.mjs"),
  ],
  compatibilityDate = "2025-09-01",
  globalOutbound = "loopback",
);
