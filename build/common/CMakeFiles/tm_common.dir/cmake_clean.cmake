file(REMOVE_RECURSE
  "CMakeFiles/tm_common.dir/tm_err.c.o"
  "CMakeFiles/tm_common.dir/tm_err.c.o.d"
  "CMakeFiles/tm_common.dir/tm_fs.c.o"
  "CMakeFiles/tm_common.dir/tm_fs.c.o.d"
  "CMakeFiles/tm_common.dir/tm_proc.c.o"
  "CMakeFiles/tm_common.dir/tm_proc.c.o.d"
  "CMakeFiles/tm_common.dir/tm_time.c.o"
  "CMakeFiles/tm_common.dir/tm_time.c.o.d"
  "CMakeFiles/tm_common.dir/tm_yaml.c.o"
  "CMakeFiles/tm_common.dir/tm_yaml.c.o.d"
  "libtm_common.a"
  "libtm_common.pdb"
)

# Per-language clean rules from dependency scanning.
foreach(lang C)
  include(CMakeFiles/tm_common.dir/cmake_clean_${lang}.cmake OPTIONAL)
endforeach()
