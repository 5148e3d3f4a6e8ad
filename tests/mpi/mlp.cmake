deeprfm_add_test(NAME test_mlp_network SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_mlp_network.cpp
                 RANKS 1 2 4 LABELS mlp TIMEOUT 120)
deeprfm_add_test(NAME test_mlp_training SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_mlp_training.cpp
                 RANKS 1 2 4 LABELS mlp TIMEOUT 180)
# The command line lives in the executable's sources (src/app), so this test compiles them.
deeprfm_add_test(NAME test_mlp_cli
                 SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_mlp_cli.cpp
                         ${PROJECT_SOURCE_DIR}/src/app/mlp_cli.cpp
                 LABELS mlp TIMEOUT 60)
target_include_directories(test_mlp_cli PRIVATE ${PROJECT_SOURCE_DIR}/src/app)
target_link_libraries(test_mlp_cli PRIVATE Boost::program_options)
# Checkpoint and resume through the executable's own parser and run driver (src/app/mlp_cli.cpp).
deeprfm_add_test(NAME test_mlp_checkpoint
                 SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_mlp_checkpoint.cpp
                         ${PROJECT_SOURCE_DIR}/src/app/mlp_cli.cpp
                 RANKS 1 2 4 LABELS mlp TIMEOUT 120)
target_include_directories(test_mlp_checkpoint PRIVATE ${PROJECT_SOURCE_DIR}/src/app)
target_link_libraries(test_mlp_checkpoint PRIVATE Boost::program_options)
