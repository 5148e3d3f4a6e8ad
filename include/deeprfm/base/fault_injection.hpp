#pragma once
/// Test-only fault injection: the environment variable DEEPRFM_FAULT makes one rank act out a
/// failure at a named point, so that the tests can prove every failure is agreed across ranks
/// (docs/checkpointing.md). Every function is local.

namespace deeprfm {

/// DEEPRFM_FAULT="KIND@RANK:LAYER:PHASE" (LAYER 1-based, or * for any; PHASE a phase name or
/// *) makes rank RANK act out failure KIND at that point. Kinds: input, alloc, scalapack,
/// hdf5, nan, residual, crash, and sleep (hold the rank for 60 s, or DEEPRFM_FAULT_SLEEP
/// seconds, signals notwithstanding, so a test can kill or time out the job inside that phase).
/// Returns true when the caller's (kind, layer, phase) matches on this rank. Local.
bool fault_requested(const char* kind, int layer, const char* phase, int rank);

/// fault_requested() for the layer and phase of the current run context. Local.
bool fault_requested_in_context(const char* kind, int rank);

/// At a point where failures are agreed: throw the injected failure for kinds input, alloc,
/// hdf5 (inside a run_agreed region) and crash (anywhere: an unagreed exception). Local.
void inject_fault_point(int layer, const char* phase, int rank);

}  // namespace deeprfm
