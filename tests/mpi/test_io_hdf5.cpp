// Parallel HDF5 layer: block-cyclic round trips at every grid shape (awkward sizes, size 0,
// ranks without local elements) checked element by element against the file, replicated
// writes, attributes, exists/dims, exclusive creation without hangs, collective transfers, and
// that h5py sees samples as rows (a python3 with h5py is required: its absence fails).
#include <boost/test/unit_test.hpp>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <string>
#include <vector>

#include <deeprfm/h5/hdf5.hpp>
#include <deeprfm/la/dist_matrix.hpp>

#include "test_helpers.hpp"

using namespace deeprfm;

namespace {

double value_at(int i, int j) { return i * 1000.0 + j + 0.25; }

/// Run `f`, which must throw deeprfm::Error on every rank; return the message (or "" if it did
/// not throw, or threw another type). Collective.
template <class F>
std::string error_of(F&& f, ErrorKind* kind = nullptr) {
  try {
    f();
  } catch (const Error& e) {
    if (kind) *kind = e.kind();
    return e.what();
  } catch (...) {
    return "(non-deeprfm exception)";
  }
  return "";
}

}  // namespace

BOOST_AUTO_TEST_CASE(distributed_round_trip_every_grid_shape) {
  auto world = mpi::Communicator::world();
  const auto dir = test::shared_temp_dir("io-dist");
  test::TempDirGuard cleanup{dir};
  test::GridCoverage coverage("test_io_hdf5 block-cyclic round trips");
  for (auto shape : test::all_grid_shapes()) {
    la::ProcessGrid grid(world, shape);
    coverage.saw(grid);
    const std::string path = (dir / ("dist_" + shape.str() + ".h5")).string();
    h5::File file(path, h5::File::Mode::create_exclusive, world);
    // 1x1 (most ranks hold nothing), 3 rows with block 4 (a process row holds nothing), sizes
    // that do not divide the block, size 0, and unequal row/column blocks.
    const int sizes[][4] = {{1, 1, 4, 4},   {3, 5, 4, 4}, {13, 7, 4, 4}, {37, 29, 5, 3},
                            {64, 16, 8, 8}, {0, 5, 4, 4}, {6, 0, 4, 4},  {0, 0, 4, 4},
                            {17, 1, 2, 1},  {1, 23, 1, 2}};
    for (const auto& s : sizes) {
      const int m = s[0], n = s[1], mb = s[2], nb = s[3];
      const std::string name = "/matrices/m" + std::to_string(m) + "_n" + std::to_string(n) + "_b" +
                               std::to_string(mb) + "x" + std::to_string(nb);
      la::DistMatrix<double> a(grid, m, n, mb, nb);
      a.for_each_local([](int gi, int gj, double& v) { v = value_at(gi, gj); });
      file.write_distributed(name, a);
      if (m * n > 0) DEEPRFM_CHECK_ALL(file.last_transfer().collective());

      const auto dims = file.dims(name);
      DEEPRFM_CHECK_ALL(dims == (std::vector<hsize_t>{hsize_t(m), hsize_t(n)}));
      // The file content, element by element, row-major.
      const auto all = file.read_all_double(name);
      bool ok = all.size() == static_cast<std::size_t>(m) * n;
      for (int i = 0; ok && i < m; ++i)
        for (int j = 0; j < n; ++j)
          ok = ok && all[static_cast<std::size_t>(i) * n + j] == value_at(i, j);
      DEEPRFM_CHECK_ALL(ok);

      // Read back with another block size: the inverse is independent of the writer's layout.
      la::DistMatrix<double> b(grid, m, n, nb + 1, mb + 2);
      b.fill(-1.0);
      file.read_distributed(name, b);
      if (m * n > 0) DEEPRFM_CHECK_ALL(file.last_transfer().collective());
      bool back = true;
      b.for_each_local([&](int gi, int gj, double& v) { back = back && v == value_at(gi, gj); });
      DEEPRFM_CHECK_ALL(back);
      if (!test::all_ranks(ok && back))
        BOOST_TEST_MESSAGE("failed: grid " << shape.str() << " matrix " << name);
    }
    // A shape mismatch on read is refused on every rank.
    la::DistMatrix<double> wrong(grid, 13, 8, 4);
    ErrorKind kind = ErrorKind::internal;
    const auto msg =
        error_of([&] { file.read_distributed("/matrices/m13_n7_b4x4", wrong); }, &kind);
    DEEPRFM_CHECK_ALL(test::contains(msg, "expected 13 x 8") && kind == ErrorKind::input);
    // Overwriting with the same shape works; a different shape is refused.
    la::DistMatrix<double> c(grid, 13, 7, 4);
    c.fill(2.0);
    file.write_distributed("/matrices/m13_n7_b4x4", c);
    const auto again = file.read_all_double("/matrices/m13_n7_b4x4");
    bool twos = again.size() == 91;
    for (double v : again) twos = twos && v == 2.0;
    DEEPRFM_CHECK_ALL(twos);
    DEEPRFM_CHECK_ALL(
        test::contains(error_of([&] { file.write_distributed("/matrices/m13_n7_b4x4", wrong); }),
                       "cannot overwrite"));
  }
  coverage.check();
}

BOOST_AUTO_TEST_CASE(replicated_writes_and_read_rows) {
  auto world = mpi::Communicator::world();
  const auto dir = test::shared_temp_dir("io-repl");
  test::TempDirGuard cleanup{dir};
  const std::string path = (dir / "repl.h5").string();
  h5::File file(path, h5::File::Mode::create_exclusive, world);

  std::vector<double> d(3 * 4);
  for (int k = 0; k < 12; ++k) d[k] = k * 0.5;
  file.write_replicated("a/b/doubles", {3, 4}, d.data());
  DEEPRFM_CHECK_ALL(file.last_transfer().collective());
  std::vector<std::int64_t> l = {1, -2, 3, 1LL << 40, 5};
  file.write_replicated("/ints/i64", {5}, l.data());
  std::vector<int> i3(2 * 3 * 2);
  for (int k = 0; k < 12; ++k) i3[k] = 100 - k;
  file.write_replicated("/ints/i32", {2, 3, 2}, i3.data());
  const double scalar = 3.5;
  file.write_replicated("/scalar", {}, &scalar);
  file.write_replicated("/empty", {0}, static_cast<const double*>(nullptr));
  file.write_replicated("/empty2d", {0, 7}, static_cast<const double*>(nullptr));

  DEEPRFM_CHECK_ALL(file.read_all_double("/a/b/doubles") == d);
  DEEPRFM_CHECK_ALL(file.read_all_int64("ints/i64") == l);
  const auto i3_back = file.read_all_int64("/ints/i32");
  DEEPRFM_CHECK_ALL(std::vector<std::int64_t>(i3.begin(), i3.end()) == i3_back);
  DEEPRFM_CHECK_ALL(file.type_class("/ints/i32") == H5T_INTEGER);
  DEEPRFM_CHECK_ALL(file.type_class("/a/b/doubles") == H5T_FLOAT);
  DEEPRFM_CHECK_ALL(file.read_all_double("/scalar") == std::vector<double>{3.5});
  DEEPRFM_CHECK_ALL(file.dims("/scalar").empty());
  DEEPRFM_CHECK_ALL(file.read_all_double("/empty").empty());
  DEEPRFM_CHECK_ALL(file.dims("/empty2d") == (std::vector<hsize_t>{0, 7}));

  // read_rows: each rank its own range, some ranks none.
  const int rank = world.rank();
  const std::int64_t first = rank % 3, count = (rank == 1) ? 0 : 3 - first;
  std::vector<double> rows(static_cast<std::size_t>(count) * 4, -1.0);
  file.read_rows("/a/b/doubles", first, count, rows.data());
  bool ok = true;
  for (std::int64_t k = 0; k < count * 4; ++k) ok = ok && rows[k] == d[first * 4 + k];
  DEEPRFM_CHECK_ALL(ok);
  // 3D dataset read by rows: trailing dims flattened.
  std::vector<double> r3(6);
  file.read_rows("/ints/i32", 1, 1, r3.data());
  DEEPRFM_CHECK_ALL(r3 == std::vector<double>(i3.begin() + 6, i3.end()));
  // Out-of-range on one rank only: every rank throws, nobody hangs.
  ErrorKind kind = ErrorKind::internal;
  std::vector<double> two_rows(8);
  const auto msg = error_of(
      [&] { file.read_rows("/a/b/doubles", rank == world.size() - 1 ? 2 : 0, 2, two_rows.data()); },
      &kind);
  DEEPRFM_CHECK_ALL(test::contains(msg, "outside") && kind == ErrorKind::input);
  // A missing dataset is an input error naming it.
  DEEPRFM_CHECK_ALL(test::contains(error_of([&] { file.read_all_double("/nope/x"); }), "/nope/x"));
}

BOOST_AUTO_TEST_CASE(attributes_groups_exists) {
  auto world = mpi::Communicator::world();
  const auto dir = test::shared_temp_dir("io-attr");
  test::TempDirGuard cleanup{dir};
  const std::string path = (dir / "attr.h5").string();
  {
    h5::File file(path, h5::File::Mode::create_truncate, world);
    file.ensure_group("/g1/g2/g3");
    file.ensure_group("g1/g2");  // already there: fine
    const double one = 1.0;
    file.write_replicated("/g1/data", {1}, &one);

    const std::string utf8 = "laplace kernel, \xce\xbb=0.5, \xc3\xbc";
    const std::vector<std::string> list = {"alpha", "", "\xce\xb3\xce\xb1\xce\xbc\xce\xbc\xce\xb1"};
    for (const std::string obj : {"/", "/g1/g2", "/g1/data"}) {
      file.write_attribute(obj, "d", 0.125);
      file.write_attribute(obj, "i", std::int64_t(-(1LL << 50)));
      file.write_attribute(obj, "s", utf8);
      file.write_attribute(obj, "empty", std::string());
      file.write_attribute(obj, "list", list);
      file.write_attribute(obj, "nolist", std::vector<std::string>{});
    }
    // Overwrite with another type.
    file.write_attribute("/", "d", std::string("now a string"));
    file.flush();

    for (const std::string obj : {"/", "/g1/g2", "/g1/data"}) {
      if (obj != "/") DEEPRFM_CHECK_ALL(file.read_attribute_double(obj, "d") == 0.125);
      DEEPRFM_CHECK_ALL(file.read_attribute_int64(obj, "i") == -(1LL << 50));
      DEEPRFM_CHECK_ALL(file.read_attribute_string(obj, "s") == utf8);
      DEEPRFM_CHECK_ALL(file.read_attribute_string(obj, "empty").empty());
      DEEPRFM_CHECK_ALL(file.read_attribute_strings(obj, "list") == list);
      DEEPRFM_CHECK_ALL(file.read_attribute_strings(obj, "nolist").empty());
      DEEPRFM_CHECK_ALL(file.has_attribute(obj, "s"));
      DEEPRFM_CHECK_ALL(!file.has_attribute(obj, "missing"));
    }
    DEEPRFM_CHECK_ALL(file.read_attribute_string("/", "d") == "now a string");
    DEEPRFM_CHECK_ALL(!file.has_attribute("/no/such", "s"));

    DEEPRFM_CHECK_ALL(file.exists("/"));
    DEEPRFM_CHECK_ALL(file.exists("/g1/g2/g3"));
    DEEPRFM_CHECK_ALL(file.exists("g1/g2/g3/"));
    DEEPRFM_CHECK_ALL(!file.exists("/g1/g2/g3/g4"));
    DEEPRFM_CHECK_ALL(!file.exists("/x/y/z"));          // missing intermediates: no error
    DEEPRFM_CHECK_ALL(!file.exists("/g1/data/child"));  // intermediate is a dataset
    DEEPRFM_CHECK_ALL(file.is_dataset("/g1/data"));
    DEEPRFM_CHECK_ALL(!file.is_dataset("/g1/g2"));
    DEEPRFM_CHECK_ALL(file.list("/") == std::vector<std::string>{"g1"});
    DEEPRFM_CHECK_ALL(file.list("/g1") == (std::vector<std::string>{"data", "g2"}));
    DEEPRFM_CHECK_ALL(file.dims("/g1/data") == std::vector<hsize_t>{1});

    // An HDF5-level failure carries the innermost message of the HDF5 error stack.
    ErrorKind kind = ErrorKind::internal;
    const auto msg = error_of([&] { file.read_attribute_double("/", "s"); }, &kind);
    DEEPRFM_CHECK_ALL(kind == ErrorKind::resource && test::contains(msg, "H5Aread failed") &&
                      test::contains(msg, "(in H5"));
    if (world.rank() == 0) BOOST_TEST_MESSAGE("HDF5 error example: " << msg);
    // Attributes on a missing object, groups over datasets: input errors.
    DEEPRFM_CHECK_ALL(test::contains(error_of([&] { file.write_attribute("/nope", "a", 1.0); }),
                                     "no object '/nope'"));
    DEEPRFM_CHECK_ALL(
        test::contains(error_of([&] { file.ensure_group("/g1/data"); }), "another object"));
  }
  // Fixed-length string attributes (as other tools write them), added by rank 0 serially.
  if (world.rank() == 0) {
    hid_t f = H5Fopen(path.c_str(), H5F_ACC_RDWR, H5P_DEFAULT);
    hid_t scalar = H5Screate(H5S_SCALAR);
    const hsize_t two = 2;
    hid_t pair = H5Screate_simple(1, &two, nullptr);
    hid_t t8 = H5Tcopy(H5T_C_S1);
    H5Tset_size(t8, 8);
    H5Tset_strpad(t8, H5T_STR_SPACEPAD);
    hid_t a = H5Acreate2(f, "fixed", t8, scalar, H5P_DEFAULT, H5P_DEFAULT);
    H5Awrite(a, t8, "abc     ");
    H5Aclose(a);
    H5Tset_strpad(t8, H5T_STR_NULLPAD);
    a = H5Acreate2(f, "fixed_list", t8, pair, H5P_DEFAULT, H5P_DEFAULT);
    H5Awrite(a, t8, "one\0\0\0\0\0twelve\0\0");
    H5Aclose(a);
    H5Tclose(t8);
    H5Sclose(pair);
    H5Sclose(scalar);
    BOOST_CHECK(H5Fclose(f) >= 0);
  }
  world.barrier();
  // Reopen read-only: everything is still there.
  h5::File again(path, h5::File::Mode::read_only, world);
  DEEPRFM_CHECK_ALL(again.read_attribute_int64("/g1/data", "i") == -(1LL << 50));
  DEEPRFM_CHECK_ALL(again.exists("/g1/g2/g3"));
  DEEPRFM_CHECK_ALL(again.read_attribute_string("/", "fixed") == "abc");
  DEEPRFM_CHECK_ALL(again.read_attribute_strings("/", "fixed_list") ==
                    (std::vector<std::string>{"one", "twelve"}));
}

BOOST_AUTO_TEST_CASE(create_exclusive_truncate_and_bad_files) {
  auto world = mpi::Communicator::world();
  const auto dir = test::shared_temp_dir("io-excl");
  test::TempDirGuard cleanup{dir};
  const std::string path = (dir / "out.h5").string();
  {
    h5::File file(path, h5::File::Mode::create_exclusive, world);
    const double v = 7.0;
    file.write_replicated("/old", {1}, &v);
  }
  ErrorKind kind = ErrorKind::internal;
  const auto msg =
      error_of([&] { h5::File f(path, h5::File::Mode::create_exclusive, world); }, &kind);
  DEEPRFM_CHECK_ALL(test::contains(
      msg, "output file " + path + " exists; it is replaced only when overwriting is asked for"));
  DEEPRFM_CHECK_ALL(kind == ErrorKind::input);
  {
    h5::File file(path, h5::File::Mode::create_truncate, world);
    DEEPRFM_CHECK_ALL(!file.exists("/old"));
    const double v = 8.0;
    file.write_replicated("/new", {1}, &v);
  }
  {
    h5::File file(path, h5::File::Mode::read_write, world);
    DEEPRFM_CHECK_ALL(file.read_all_double("/new") == std::vector<double>{8.0});
    file.write_attribute("/", "added", std::int64_t(3));
  }
  // Missing file, not an HDF5 file, missing output directory: input errors on every rank.
  DEEPRFM_CHECK_ALL(test::contains(error_of([&] {
                                     h5::File f((dir / "missing.h5").string(),
                                                h5::File::Mode::read_only, world);
                                   }),
                                   "does not exist"));
  const std::string text = (dir / "text.h5").string();
  if (world.rank() == 0) std::ofstream(text) << "not hdf5\n";
  world.barrier();
  DEEPRFM_CHECK_ALL(
      test::contains(error_of([&] { h5::File f(text, h5::File::Mode::read_only, world); }, &kind),
                     "is not an HDF5 file"));
  DEEPRFM_CHECK_ALL(kind == ErrorKind::input);
  DEEPRFM_CHECK_ALL(test::contains(error_of([&] {
                                     h5::File f((dir / "no_dir" / "x.h5").string(),
                                                h5::File::Mode::create_truncate, world);
                                   }),
                                   "does not exist"));
}

BOOST_AUTO_TEST_CASE(h5py_sees_samples_as_rows) {
  auto world = mpi::Communicator::world();
  const auto dir = test::shared_temp_dir("io-h5py");
  test::TempDirGuard cleanup{dir};
  const std::string path = (dir / "py.h5").string();
  {
    la::ProcessGrid grid(world, la::most_square_shape(world.size()));
    h5::File file(path, h5::File::Mode::create_exclusive, world);
    la::DistMatrix<double> a(grid, 11, 6, 4, 5);
    a.for_each_local([](int gi, int gj, double& v) { v = value_at(gi, gj); });
    file.write_distributed("/features/layer_0", a);
    file.write_attribute("/", "kernel", std::string("laplace \xce\xbb"));
    file.write_attribute("/", "classes", std::vector<std::string>{"cat", "dog"});
    file.write_attribute("/features/layer_0", "bandwidth", 10.0);
  }
  int status = 0;
  if (world.rank() == 0) {
    // The first python3 that has h5py (a pyenv shim may hide the system one), or only
    // DEEPRFM_TEST_PYTHON when it is set.
    std::string python;
    std::vector<std::string> candidates = {"python3", "/usr/bin/python3"};
    if (const char* chosen = std::getenv("DEEPRFM_TEST_PYTHON"); chosen && *chosen)
      candidates = {chosen};
    for (const auto& candidate : candidates) {
      const std::string probe = candidate + " -c 'import h5py' >/dev/null 2>&1";
      if (std::system(probe.c_str()) == 0) {
        python = candidate;
        break;
      }
    }
    if (python.empty()) {
      status = -1;
    } else {
      const std::string script = (dir / "check.py").string();
      std::ofstream(script)
          << "import sys, h5py\n"
             "f = h5py.File(sys.argv[1], 'r')\n"
             "x = f['features/layer_0']\n"
             "assert x.shape == (11, 6), x.shape\n"
             "for i in range(11):\n"
             "    for j in range(6):\n"
             "        assert x[i, j] == i * 1000.0 + j + 0.25, (i, j, x[i, j])\n"
             "k = f.attrs['kernel']\n"
             "assert isinstance(k, str) and k == 'laplace \\u03bb', repr(k)\n"
             "assert [str(c) for c in f.attrs['classes']] == ['cat', 'dog'], f.attrs['classes']\n"
             "assert x.attrs['bandwidth'] == 10.0\n";
      status = std::system((python + " " + script + " " + path).c_str()) == 0 ? 1 : 0;
    }
  }
  MPI_Bcast(&status, 1, MPI_INT, 0, MPI_COMM_WORLD);
  // No h5py is a failure, not a skip: this is the suite's only check that another reader sees
  // the layout the documentation promises.
  BOOST_CHECK_MESSAGE(status >= 0, "no python3 with the Python module h5py (tried "
                                       << (std::getenv("DEEPRFM_TEST_PYTHON")
                                               ? "DEEPRFM_TEST_PYTHON"
                                               : "python3 on PATH and /usr/bin/python3")
                                       << "; Debian: python3-h5py); " << test::kSetupFix);
  if (status >= 0) BOOST_CHECK(status == 1);
}
