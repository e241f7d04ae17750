# CMake generated Testfile for 
# Source directory: /work/main/tests/common
# Build directory: /work/main/build/tests/common
# 
# This file includes the relevant testing commands required for 
# testing this directory and lists subdirectories to be tested as well.
add_test(test_common "/work/main/build/bin/test_common")
set_tests_properties(test_common PROPERTIES  ENVIRONMENT "CK_FORK=yes;TM_BUILD_DIR=/work/main/build;TM_SOURCE_DIR=/work/main" TIMEOUT "60" _BACKTRACE_TRIPLES "/work/main/CMakeLists.txt;60;add_test;/work/main/tests/common/CMakeLists.txt;1;tm_add_check_test;/work/main/tests/common/CMakeLists.txt;0;")
