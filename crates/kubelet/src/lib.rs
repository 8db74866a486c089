//! The node agent: joins a cluster, registers its Node, heartbeats it through a Lease and reports
//! the status of the pods bound to it.
//!
//! What every agent shares sits at the top: [`connect`] (the join token and the server's CA),
//! [`node`] (the Node object a kubelet registers), [`lease`] (the heartbeat) and [`pod_status`]
//! (pod phase, conditions and container statuses as upstream's kubelet computes them). Behind
//! them either this machine ([`node_agent`] registers it, [`pods`] runs its pods on the
//! agent's containerd through [`runtime`]) or [`sim`]: many simulated nodes in one process
//! whose containers run no code, for testing the control plane at scale
//! (`tug agent --simulate N`).
//!
//! # Scripted outcomes
//!
//! Annotations on a pod script what its simulated containers do. Durations are Go-style (`2s`,
//! `500ms`, `1m30s`) or plain seconds. Without annotations, containers of pods with
//! `restartPolicy: Never` or `OnFailure` exit 0 after about a second and those with `Always` run
//! until the pod is deleted.
//!
//! | annotation | effect |
//! |---|---|
//! | `sim.tugboat.dev/exit-code: "1"` | each run of a container exits with this code (after 1 s unless `exit-after` says otherwise) |
//! | `sim.tugboat.dev/exit-after: 2s` | each run of a container lasts this long, then exits (with `exit-code`, default 0) |
//! | `sim.tugboat.dev/exit-runs: "2"` | only the first N runs follow `exit-code`/`exit-after`/`crash-loop`; later runs behave as unannotated |
//! | `sim.tugboat.dev/crash-loop: "true"` | each run exits with `exit-code` (default 1) after `exit-after` (default 1 s): CrashLoopBackOff under `Always`/`OnFailure` |
//! | `sim.tugboat.dev/ready: "false"` | containers never become ready |
//! | `sim.tugboat.dev/ready-after: 5s` | containers become ready this long after each start (default: when the probes allow, see below) |
//! | `sim.tugboat.dev/start-after: 3s` | containers stay `ContainerCreating` this long (the pod stays Pending) |
//! | `sim.tugboat.dev/liveness-fail-after: 5s` | a container's `livenessProbe` fails from this long after each start: after `failureThreshold` failed runs (every `periodSeconds` from `initialDelaySeconds`) the container is killed (137) and restarted per the restart policy |
//! | `sim.tugboat.dev/stop-after: 10s` | on deletion, containers take this long to exit (default at once); past `terminationGracePeriodSeconds` they are killed with 137 |
//! | `sim.tugboat.dev/log: "a\nb"` | each run of a container logs these lines after its start line (`kubectl logs`) |
//!
//! Annotations are read once, when the agent first sees the pod.
//!
//! Probes in the pod spec pass unless scripted to fail, on upstream's schedule: a container is
//! `started` once its `startupProbe` passed (`initialDelaySeconds`, at once without one) and
//! ready once its `readinessProbe` then passed `successThreshold` times (runs every
//! `periodSeconds` from `initialDelaySeconds`).

pub mod cni;
pub mod connect;
pub mod containerd;
pub mod host;
pub mod lease;
pub mod logs;
pub mod node;
pub mod node_agent;
pub mod node_status;
pub mod pod_status;
pub mod pods;
pub mod portforward;
pub mod runtime;
pub mod sim;
pub mod stats;
pub mod streaming;
pub mod time;
pub mod volumes;
