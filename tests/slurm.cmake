# The Slurm tests: a real Slurm cluster on this machine (tests/slurm/cluster.sh: munge,
# MariaDB + slurmdbd, slurmctld and two slurmd nodes), started by the fixture
# slurm_cluster_start and stopped by slurm_cluster_stop whatever the tests did. Label `slurm`.
# Needs root and Debian's slurm-wlm, slurmdbd, munge and mariadb-server (scripts/setup.sh
# --tests installs them); -DDEEPRFM_SLURM_TESTS=OFF leaves them out. Included from
# tests/CMakeLists.txt.
find_program(DEEPRFM_SLURMCTLD slurmctld PATHS /usr/sbin)
set(_slurm_default ON)
option(DEEPRFM_SLURM_TESTS "Run the tests on a Slurm cluster started on this machine" ${_slurm_default})
if(NOT DEEPRFM_SLURM_TESTS)
  return()
endif()

set(_slurm_dir ${CMAKE_BINARY_DIR}/slurm-cluster)
set(_slurm ${CMAKE_CURRENT_LIST_DIR}/slurm)
if(NOT DEEPRFM_SLURMCTLD OR NOT DEEPRFM_SYSTEM_PYTHON)
  # Not silently absent: a test that fails and says what to install.
  add_test(NAME slurm_missing
           COMMAND sh -c "echo 'Slurm (slurmctld) or /usr/bin/python3 not found: run bash scripts/setup.sh --tests, or configure with -DDEEPRFM_SLURM_TESTS=OFF'; exit 1")
  set_tests_properties(slurm_missing PROPERTIES LABELS slurm)
  return()
endif()

add_test(NAME slurm_cluster_start COMMAND bash ${_slurm}/cluster.sh start ${_slurm_dir} 2)
set_tests_properties(slurm_cluster_start PROPERTIES
  FIXTURES_SETUP slurm_cluster LABELS slurm TIMEOUT 180 RESOURCE_LOCK slurm_cluster
  ENVIRONMENT "DEEPRFM_CLUSTER_SHARE=${PROJECT_SOURCE_DIR}:${CMAKE_BINARY_DIR}")
add_test(NAME slurm_cluster_stop COMMAND bash ${_slurm}/cluster.sh stop ${_slurm_dir})
set_tests_properties(slurm_cluster_stop PROPERTIES
  FIXTURES_CLEANUP slurm_cluster LABELS slurm TIMEOUT 120 RESOURCE_LOCK slurm_cluster)

# name, timeout (s); run one at a time (they share the cluster's two nodes), longest first.
foreach(t IN ITEMS "time_limit;1500;100" "job_scripts;1200;90" "node_failure;900;80"
                   "cross_node;600;70" "rank_loss;300;60")
  list(GET t 0 name)
  list(GET t 1 timeout)
  list(GET t 2 cost)
  add_test(NAME slurm_${name}
           COMMAND bash ${_slurm}/test_${name}.sh ${_slurm_dir} ${PROJECT_SOURCE_DIR} ${CMAKE_BINARY_DIR})
  set_tests_properties(slurm_${name} PROPERTIES
    FIXTURES_REQUIRED slurm_cluster LABELS slurm TIMEOUT ${timeout} COST ${cost}
    RESOURCE_LOCK slurm_cluster PROCESSORS 1
    ENVIRONMENT "OPENBLAS_NUM_THREADS=1;DEEPRFM_TEST_PYTHON=${DEEPRFM_SYSTEM_PYTHON};DEEPRFM_MAX_REQUEUES=10")
endforeach()
