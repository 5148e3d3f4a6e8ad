// The MPI byte counters of mpi/comm_counters.hpp: calls made from inside libscalapack (PBLAS
// pdgemm, through BLACS) are intercepted, a run on one rank communicates nothing, the counted
// volumes follow the documented definition, ScopedPhase books the bytes of its phase, and the
// off-node part is exact for sends and follows the q/(p-1) model for collectives, on
// MPI_COMM_WORLD and on sub-communicators (also freed and re-created ones). tests/tools.cmake
// runs this file on one node (1, 2, 4 ranks) and with DEEPRFM_TEST_NODE_OF_RANK faking 2 nodes;
// without the override the expected layout is the test's own MPI_COMM_TYPE_SHARED split, so it
// also holds on a real multi-node allocation.
#include <boost/test/unit_test.hpp>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdint>
#include <cstdlib>
#include <functional>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

#include <deeprfm/mpi/comm_counters.hpp>
#include <deeprfm/mpi/timer.hpp>
#include <deeprfm/la/process_grid.hpp>
#include <deeprfm/la/dist_matrix.hpp>
#include <deeprfm/la/scalapack.hpp>
#include <deeprfm/mpi/communicator.hpp>

#include "test_helpers.hpp"

using namespace deeprfm;

namespace {

/// Sum of a value over MPI_COMM_WORLD (itself a counted call: use only after measuring).
double sum_over_ranks(double local) {
  double out = 0;
  MPI_Allreduce(&local, &out, 1, MPI_DOUBLE, MPI_SUM, MPI_COMM_WORLD);
  return out;
}

/// Node index of every world rank (dense, in order of first appearance): the test override
/// when it is set, else this test's own shared-memory split. Collective over MPI_COMM_WORLD.
std::vector<int> expected_node_of_world() {
  const int p = test::world_size();
  std::vector<int> ids;
  if (const char* v = std::getenv("DEEPRFM_TEST_NODE_OF_RANK")) {
    std::stringstream in(v);
    std::string item;
    while (std::getline(in, item, ',')) ids.push_back(std::stoi(item));
  } else {
    MPI_Comm node;
    MPI_Comm_split_type(MPI_COMM_WORLD, MPI_COMM_TYPE_SHARED, 0, MPI_INFO_NULL, &node);
    int leader = test::world_rank();
    MPI_Allreduce(MPI_IN_PLACE, &leader, 1, MPI_INT, MPI_MIN, node);
    MPI_Comm_free(&node);
    ids.resize(static_cast<std::size_t>(p));
    MPI_Allgather(&leader, 1, MPI_INT, ids.data(), 1, MPI_INT, MPI_COMM_WORLD);
  }
  BOOST_REQUIRE_EQUAL(static_cast<int>(ids.size()), p);
  std::vector<int> seen, dense;
  for (int id : ids) {
    const auto it = std::find(seen.begin(), seen.end(), id);
    dense.push_back(static_cast<int>(it - seen.begin()));
    if (it == seen.end()) seen.push_back(id);
  }
  return dense;
}

/// World rank of each rank of `comm`. Local.
std::vector<int> world_ranks_of(MPI_Comm comm) {
  MPI_Group group, world;
  MPI_Comm_group(comm, &group);
  MPI_Comm_group(MPI_COMM_WORLD, &world);
  int n = 0;
  MPI_Group_size(group, &n);
  std::vector<int> ranks(static_cast<std::size_t>(n)), out(static_cast<std::size_t>(n));
  for (int j = 0; j < n; ++j) ranks[static_cast<std::size_t>(j)] = j;
  MPI_Group_translate_ranks(group, n, ranks.data(), world, out.data());
  MPI_Group_free(&group);
  MPI_Group_free(&world);
  return out;
}

/// What this rank counted while `body` ran.
struct Delta {
  double bytes = 0;
  double off_node = 0;
};

Delta measure(const std::function<void()>& body) {
  const CommCounters before = comm_counters();
  body();
  const CommCounters after = comm_counters();
  return {static_cast<double>(after.bytes - before.bytes),
          static_cast<double>(after.off_node_bytes - before.off_node_bytes)};
}

/// Runs every counted call kind on `comm` (sends around the ring rank -> rank + 1) and checks,
/// per call, bytes > 0 when the communicator has other ranks, and the off-node bytes: exactly
/// the bytes (destination on another node) or 0 for sends, bytes * q/(p-1) (up to the rounding
/// of both counters) for collectives. Returns this rank's failures, one line each; empty if
/// all hold. Collective over `comm`.
std::vector<std::string> check_every_call_kind(MPI_Comm comm, const std::vector<int>& node) {
  int p = 1, me = 0;
  MPI_Comm_size(comm, &p);
  MPI_Comm_rank(comm, &me);
  const std::vector<int> world = world_ranks_of(comm);
  const auto node_of = [&](int r) { return node[static_cast<std::size_t>(world[r])]; };
  const int dest = (me + 1) % p, source = (me + p - 1) % p;
  int off_peers = 0;
  for (int j = 0; j < p; ++j) off_peers += j != me && node_of(j) != node_of(me) ? 1 : 0;
  const double share = p > 1 ? double(off_peers) / (p - 1) : 0.0;
  const bool dest_off = node_of(dest) != node_of(me);

  const int count = 1000;
  std::vector<double> a(static_cast<std::size_t>(count) * p, 1.0),
      b(static_cast<std::size_t>(count) * p, 0.0);
  std::vector<int> counts(static_cast<std::size_t>(p)), displs(static_cast<std::size_t>(p));
  for (int j = 0; j < p; ++j) {
    counts[static_cast<std::size_t>(j)] = 10 + 3 * j;
    displs[static_cast<std::size_t>(j)] = j * count;
  }
  const std::vector<int> mine(static_cast<std::size_t>(p), counts[me]);  // what each sends me
  std::vector<char> bsend_buffer(2 * (8 * count + MPI_BSEND_OVERHEAD));
  MPI_Buffer_attach(bsend_buffer.data(), static_cast<int>(bsend_buffer.size()));

  // Blocking sends around the ring: the receive is posted first, so none of them can deadlock;
  // ready mode needs it posted everywhere before the send (the barrier).
  using Send = int (*)(const void*, int, MPI_Datatype, int, int, MPI_Comm);
  const auto ring = [&](Send send) {
    return [&, send] {
      MPI_Request r;
      MPI_Irecv(b.data(), count, MPI_DOUBLE, source, 1, comm, &r);
      MPI_Barrier(comm);
      send(a.data(), count, MPI_DOUBLE, dest, 1, comm);
      MPI_Wait(&r, MPI_STATUS_IGNORE);
    };
  };
  using Isend = int (*)(const void*, int, MPI_Datatype, int, int, MPI_Comm, MPI_Request*);
  const auto iring = [&](Isend isend) {
    return [&, isend] {
      MPI_Request r[2];
      MPI_Irecv(b.data(), count, MPI_DOUBLE, source, 1, comm, &r[0]);
      MPI_Barrier(comm);
      isend(a.data(), count, MPI_DOUBLE, dest, 1, comm, &r[1]);
      MPI_Waitall(2, r, MPI_STATUSES_IGNORE);
    };
  };
  struct Kind {
    const char* name;
    bool send;  // point to point: exact off-node bytes
    std::function<void()> body;
  };
  const std::vector<Kind> kinds = {
      {"Send", true, ring(MPI_Send)},
      {"Ssend", true, ring(MPI_Ssend)},
      {"Rsend", true, ring(MPI_Rsend)},
      {"Bsend", true, ring(MPI_Bsend)},
      {"Isend", true, iring(MPI_Isend)},
      {"Issend", true, iring(MPI_Issend)},
      {"Irsend", true, iring(MPI_Irsend)},
      {"Ibsend", true, iring(MPI_Ibsend)},
      {"Sendrecv", true,
       [&] {
         MPI_Sendrecv(a.data(), count, MPI_DOUBLE, dest, 2, b.data(), count, MPI_DOUBLE, source, 2,
                      comm, MPI_STATUS_IGNORE);
       }},
      {"Sendrecv_replace", true,
       [&] {
         MPI_Sendrecv_replace(a.data(), count, MPI_DOUBLE, dest, 3, source, 3, comm,
                              MPI_STATUS_IGNORE);
       }},
      {"Bcast", false, [&] { MPI_Bcast(a.data(), count, MPI_DOUBLE, 0, comm); }},
      {"Reduce", false,
       [&] { MPI_Reduce(a.data(), b.data(), count, MPI_DOUBLE, MPI_SUM, p - 1, comm); }},
      {"Allreduce", false,
       [&] { MPI_Allreduce(a.data(), b.data(), count, MPI_DOUBLE, MPI_SUM, comm); }},
      {"Reduce_scatter_block", false,
       [&] { MPI_Reduce_scatter_block(a.data(), b.data(), count, MPI_DOUBLE, MPI_SUM, comm); }},
      {"Reduce_scatter", false,
       [&] { MPI_Reduce_scatter(a.data(), b.data(), counts.data(), MPI_DOUBLE, MPI_SUM, comm); }},
      {"Allgather", false,
       [&] { MPI_Allgather(a.data(), count, MPI_DOUBLE, b.data(), count, MPI_DOUBLE, comm); }},
      {"Allgatherv", false,
       [&] {
         MPI_Allgatherv(a.data(), counts[me], MPI_DOUBLE, b.data(), counts.data(), displs.data(),
                        MPI_DOUBLE, comm);
       }},
      {"Alltoall", false,
       [&] { MPI_Alltoall(a.data(), count, MPI_DOUBLE, b.data(), count, MPI_DOUBLE, comm); }},
      {"Alltoallv", false,
       [&] {
         MPI_Alltoallv(a.data(), counts.data(), displs.data(), MPI_DOUBLE, b.data(), mine.data(),
                       displs.data(), MPI_DOUBLE, comm);
       }},
      {"Gather", false,
       [&] { MPI_Gather(a.data(), count, MPI_DOUBLE, b.data(), count, MPI_DOUBLE, 0, comm); }},
      {"Gatherv", false,
       [&] {
         MPI_Gatherv(a.data(), counts[me], MPI_DOUBLE, b.data(), counts.data(), displs.data(),
                     MPI_DOUBLE, 0, comm);
       }},
      {"Scatter", false,
       [&] { MPI_Scatter(a.data(), count, MPI_DOUBLE, b.data(), count, MPI_DOUBLE, 0, comm); }},
      {"Scatterv", false,
       [&] {
         MPI_Scatterv(a.data(), counts.data(), displs.data(), MPI_DOUBLE, b.data(), counts[me],
                      MPI_DOUBLE, 0, comm);
       }},
  };
  std::vector<std::string> failures;
  for (const auto& kind : kinds) {
    const Delta d = measure(kind.body);
    // Rooted collectives count nothing on some ranks (Gather on the root, Scatter elsewhere).
    const bool quiet_here = (std::string(kind.name).rfind("Gather", 0) == 0 && me == 0) ||
                            (std::string(kind.name).rfind("Scatter", 0) == 0 && me != 0);
    const bool sent_ok = p == 1 ? d.bytes == 0 : (quiet_here ? d.bytes == 0 : d.bytes > 0);
    const double expected = kind.send ? (dest_off ? d.bytes : 0.0) : d.bytes * share;
    const bool off_ok = kind.send ? d.off_node == expected : std::abs(d.off_node - expected) <= 1;
    if (!sent_ok || !off_ok) {
      std::ostringstream line;
      line << kind.name << " on a communicator of " << p << ": bytes " << d.bytes << ", off-node "
           << d.off_node << ", expected off-node " << expected;
      failures.push_back(line.str());
    }
  }
  void* detached = nullptr;
  int detached_size = 0;
  MPI_Buffer_detach(&detached, &detached_size);
  return failures;
}

/// Checks a list of per-rank failures over all ranks, printing each (to stderr: every rank's
/// lines reach ctest's output).
void check_no_failures(const std::vector<std::string>& failures, const std::string& where) {
  for (const auto& f : failures)
    std::fprintf(stderr, "rank %d, %s: %s\n", test::world_rank(), where.c_str(), f.c_str());
  DEEPRFM_CHECK_ALL(failures.empty());
}

}  // namespace

BOOST_AUTO_TEST_CASE(pdgemm_inside_scalapack_is_counted) {
  const auto world = mpi::Communicator::world();
  const int p = world.size();
  for (const auto& shape : test::all_grid_shapes()) {
    la::ProcessGrid grid(world, shape);
    const int n = 150, k = 70, block = 16;  // sizes that do not divide the block size
    la::DistMatrix<double> a(grid, n, k, block), b(grid, k, n, block), c(grid, n, n, block);
    a.for_each_local([](int i, int j, double& v) { v = 1.0 + i - 0.5 * j; });
    b.for_each_local([](int i, int j, double& v) { v = 0.25 * i + j; });
    const CommCounters before = comm_counters();
    la::scalapack::gemm('N', 'N', 1.0, a, b, 0.0, c);
    const CommCounters after = comm_counters();
    const double sent = static_cast<double>(after.bytes - before.bytes);
    const double off_node = static_cast<double>(after.off_node_bytes - before.off_node_bytes);
    DEEPRFM_CHECK_ALL(off_node <= sent && (comm_node_count() > 1 || off_node == 0));
    const double calls = static_cast<double>(after.calls - before.calls);
    BOOST_TEST_MESSAGE("grid " << shape.str() << ": rank " << world.rank() << " sent " << sent
                               << " bytes in " << calls << " MPI calls during pdgemm");
    const double total = sum_over_ranks(sent);
    const double total_calls = sum_over_ranks(calls);
    if (p == 1) {
      BOOST_CHECK_EQUAL(total, 0.0);  // one rank: nothing leaves the process
    } else {
      BOOST_CHECK_GT(total, 0.0);  // BLACS calls were intercepted
      BOOST_CHECK_GT(total_calls, 0.0);
      // pdgemm cannot move more than every rank receiving all of A and B.
      BOOST_CHECK_LE(total, 8.0 * p * (double(n) * k * 2));
    }
  }
}

BOOST_AUTO_TEST_CASE(collective_volumes_follow_the_definition) {
  const auto world = mpi::Communicator::world();
  const int p = world.size();
  const int count = 1000;
  std::vector<double> buf(count, 1.0), out(count, 0.0);

  std::uint64_t b0 = comm_bytes_sent();
  MPI_Allreduce(buf.data(), out.data(), count, MPI_DOUBLE, MPI_SUM, MPI_COMM_WORLD);
  const double allreduce = static_cast<double>(comm_bytes_sent() - b0);

  b0 = comm_bytes_sent();
  MPI_Bcast(buf.data(), count, MPI_DOUBLE, 0, MPI_COMM_WORLD);
  const double bcast = static_cast<double>(comm_bytes_sent() - b0);

  // A derived datatype counts its data, not its extent: 10 blocks of 3 doubles, stride 7.
  MPI_Datatype vec;
  MPI_Type_vector(10, 3, 7, MPI_DOUBLE, &vec);
  MPI_Type_commit(&vec);
  double send = 0;
  b0 = comm_bytes_sent();
  if (p > 1) {
    if (world.rank() == 0) MPI_Send(buf.data(), 1, vec, 1, 7, MPI_COMM_WORLD);
    if (world.rank() == 1) MPI_Recv(out.data(), 1, vec, 0, 7, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
  }
  send = static_cast<double>(comm_bytes_sent() - b0);
  MPI_Type_free(&vec);

  // Reduce_scatter with unequal blocks: every block but my own leaves this rank.
  std::vector<int> counts(static_cast<std::size_t>(p));
  for (int j = 0; j < p; ++j) counts[static_cast<std::size_t>(j)] = 10 + 3 * j;
  int total_count = 0;
  for (int c : counts) total_count += c;
  std::vector<double> rs_in(static_cast<std::size_t>(total_count), 1.0),
      rs_out(counts[world.rank()]);
  b0 = comm_bytes_sent();
  MPI_Reduce_scatter(rs_in.data(), rs_out.data(), counts.data(), MPI_DOUBLE, MPI_SUM,
                     MPI_COMM_WORLD);
  const double reduce_scatter = static_cast<double>(comm_bytes_sent() - b0);
  const double reduce_scatter_expected = 8.0 * (total_count - counts[world.rank()]);

  const double m = 8.0 * count;
  DEEPRFM_CHECK_ALL(allreduce == 2.0 * m * (p - 1) / p);
  DEEPRFM_CHECK_ALL(bcast == m * (p - 1) / p);
  DEEPRFM_CHECK_ALL(send == (p > 1 && world.rank() == 0 ? 8.0 * 30 : 0.0));
  DEEPRFM_CHECK_ALL(reduce_scatter == reduce_scatter_expected);
}

BOOST_AUTO_TEST_CASE(scoped_phase_records_bytes) {
  const auto world = mpi::Communicator::world();
  const int p = world.size();
  PhaseTimers timers;
  std::vector<double> buf(500, 1.0);
  { ScopedPhase phase(timers, "quiet", 0); }
  {
    ScopedPhase phase(timers, "reduce", 0);
    world.sum_in_place(buf.data(), buf.size());
  }
  DEEPRFM_CHECK_ALL(timers.at("quiet").bytes == 0.0);
  DEEPRFM_CHECK_ALL(timers.at("reduce").bytes == 2.0 * 8.0 * 500 * (p - 1) / p);
  // Its off-node part follows the collective model: bytes * (other ranks off-node) / (p-1).
  const std::vector<int> node = expected_node_of_world();
  int off_peers = 0;
  for (int r = 0; r < p; ++r) off_peers += node[static_cast<std::size_t>(r)] != node[world.rank()];
  const double off = p > 1 ? timers.at("reduce").bytes * off_peers / (p - 1) : 0.0;
  DEEPRFM_CHECK_ALL(std::abs(timers.at("reduce").off_node_bytes - off) <= 1);
  DEEPRFM_CHECK_ALL(timers.at("quiet").off_node_bytes == 0.0);
  timers.add("direct", 1.0, 2.0, 3.0, 2.0);
  BOOST_CHECK_EQUAL(timers.at("direct").bytes, 3.0);
  BOOST_CHECK_EQUAL(timers.at("direct").off_node_bytes, 2.0);
}

// A phase with a synchronising barrier: the barrier makes every rank's time the slowest rank's,
// and it is skipped when the scope is left by an exception (here only on rank 0: a barrier on
// rank 0 alone would be matched with the barrier below and leave the final Allreduce of the
// other ranks waiting, so the test would hang instead of passing).
BOOST_AUTO_TEST_CASE(synchronised_phase_waits_for_the_slowest_rank_but_not_while_unwinding) {
  const auto world = mpi::Communicator::world();
  PhaseTimers timers;
  world.barrier();  // start together (up to scheduling: 4 ranks may share 2 cores)
  {
    ScopedPhase phase(timers, "sync", 0, world.get());
    if (world.rank() == world.size() - 1) {
      const double until = wall_seconds() + 0.1;
      while (wall_seconds() < until) {
      }
    }
  }
  DEEPRFM_CHECK_ALL(timers.at("sync").seconds >= 0.05);
  bool caught = false;
  if (world.rank() == 0) {
    try {
      ScopedPhase phase(timers, "unwound", 0, world.get());
      throw std::runtime_error("only rank 0 fails");
    } catch (const std::runtime_error&) {
      caught = true;
    }
    BOOST_CHECK(timers.has("unwound"));
  }
  world.barrier();
  DEEPRFM_CHECK_ALL(world.rank() != 0 || caught);
}

BOOST_AUTO_TEST_CASE(node_map_matches_the_layout) {
  const std::vector<int> node = expected_node_of_world();
  int nodes = 0;
  bool same = true;
  for (int r = 0; r < test::world_size(); ++r) {
    nodes = std::max(nodes, node[static_cast<std::size_t>(r)] + 1);
    same = same && comm_node_of_world_rank(r) == node[static_cast<std::size_t>(r)];
  }
  BOOST_TEST_MESSAGE("rank " << test::world_rank() << ": " << comm_node_count() << " node(s)");
  DEEPRFM_CHECK_ALL(same);
  DEEPRFM_CHECK_ALL(comm_node_count() == nodes);
  DEEPRFM_CHECK_ALL(comm_node_of_world_rank(-1) == -1 &&
                    comm_node_of_world_rank(test::world_size()) == -1);
}

BOOST_AUTO_TEST_CASE(off_node_bytes_of_every_call_kind_on_the_world) {
  const std::vector<int> node = expected_node_of_world();
  check_no_failures(check_every_call_kind(MPI_COMM_WORLD, node), "MPI_COMM_WORLD");
  // Without the override, this host is one node: nothing may count as off-node.
  if (std::getenv("DEEPRFM_TEST_NODE_OF_RANK") == nullptr && comm_node_count() == 1) {
    const Delta d = measure([] {
      std::vector<double> x(100, 1.0), y(100);
      MPI_Allreduce(x.data(), y.data(), 100, MPI_DOUBLE, MPI_SUM, MPI_COMM_WORLD);
    });
    DEEPRFM_CHECK_ALL(d.off_node == 0 && (test::world_size() == 1 || d.bytes > 0));
  }
}

// Sub-communicators: ranks of one node only (off-node 0), and one rank per node (everything
// off-node), each freed and created again so that a reused handle cannot keep a stale cache
// entry; both orders, twice.
BOOST_AUTO_TEST_CASE(off_node_bytes_on_sub_communicators) {
  const std::vector<int> node = expected_node_of_world();
  const int me = test::world_rank();
  int index_on_node = 0;  // this rank's position among the world ranks of its node
  for (int r = 0; r < me; ++r) index_on_node += node[static_cast<std::size_t>(r)] == node[me];
  std::vector<MPI_Comm> seen;
  for (int round = 0; round < 4; ++round) {
    const bool on_node = round % 2 == 0;
    MPI_Comm sub;
    MPI_Comm_split(MPI_COMM_WORLD, on_node ? node[me] : index_on_node, me, &sub);
    seen.push_back(sub);
    const std::string where = on_node ? "ranks of one node" : "one rank per node";
    std::vector<std::string> failures = check_every_call_kind(sub, node);
    const Delta d = measure([&] {
      std::vector<double> x(100, 1.0), y(100);
      MPI_Allreduce(x.data(), y.data(), 100, MPI_DOUBLE, MPI_SUM, sub);
    });
    if (on_node ? d.off_node != 0 : d.off_node != d.bytes)
      failures.push_back("Allreduce: off-node " + std::to_string(d.off_node) + " of " +
                         std::to_string(d.bytes) + " bytes");
    check_no_failures(failures, where);
    MPI_Comm_free(&sub);
  }
  int reused = 0;
  for (std::size_t k = 1; k < seen.size(); ++k) reused += seen[k] == seen[k - 1] ? 1 : 0;
  BOOST_TEST_MESSAGE("rank " << me << ": " << reused << " of 3 re-created communicators reused "
                             << "the freed handle");
}

// The layouts of tests/tools.cmake, with the expected values written out rather than derived.
BOOST_AUTO_TEST_CASE(off_node_bytes_of_known_layouts) {
  const char* v = std::getenv("DEEPRFM_TEST_NODE_OF_RANK");
  const std::string layout = v ? v : "";
  const int p = test::world_size(), me = test::world_rank();
  std::vector<double> x(1000, 1.0), y(1000);
  if (layout == "0,1" || layout == "0,0,1,1") {
    // Sends to each peer in turn: to the other node the whole message, on the node nothing.
    std::vector<std::string> failures;
    for (int shift = 1; shift < p; ++shift) {
      const int dest = (me + shift) % p, source = (me + p - shift) % p;
      const int n = 100 + 10 * shift + me;
      const Delta d = measure([&] {
        MPI_Sendrecv(x.data(), n, MPI_DOUBLE, dest, 5, y.data(), 1000, MPI_DOUBLE, source, 5,
                     MPI_COMM_WORLD, MPI_STATUS_IGNORE);
      });
      const bool other_node = layout == "0,1" || (me / 2) != (dest / 2);
      if (d.bytes != 8.0 * n || d.off_node != (other_node ? 8.0 * n : 0.0))
        failures.push_back("send to " + std::to_string(dest) + ": " + std::to_string(d.bytes) +
                           " bytes, " + std::to_string(d.off_node) + " off-node");
    }
    // Allreduce of m = 8000 bytes: 2 m (p-1)/p, of which a share q/(p-1) off-node: all of it on
    // 2 ranks, 2 of 3 others on 0,0,1,1 (12000 bytes, 8000 off-node).
    const Delta d = measure(
        [&] { MPI_Allreduce(x.data(), y.data(), 1000, MPI_DOUBLE, MPI_SUM, MPI_COMM_WORLD); });
    const double bytes = p == 2 ? 8000.0 : 12000.0, off = 8000.0;
    if (d.bytes != bytes || d.off_node != off)
      failures.push_back("Allreduce: " + std::to_string(d.bytes) + " bytes, " +
                         std::to_string(d.off_node) + " off-node");
    check_no_failures(failures, "layout " + layout);
  } else {
    BOOST_TEST_MESSAGE("layout '" << layout << "' has no written-out expectations here");
  }
}
