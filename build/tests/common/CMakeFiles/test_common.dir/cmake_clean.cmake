file(REMOVE_RECURSE
  "../../bin/test_common"
  "../../bin/test_common.pdb"
  "CMakeFiles/test_common.dir/test_common.c.o"
  "CMakeFiles/test_common.dir/test_common.c.o.d"
)

# Per-language clean rules from dependency scanning.
foreach(lang C)
  include(CMakeFiles/test_common.dir/cmake_clean_${lang}.cmake OPTIONAL)
endforeach()
