
# Consider dependencies only in project.
set(CMAKE_DEPENDS_IN_PROJECT_ONLY OFF)

# The set of languages for which implicit dependencies are needed:
set(CMAKE_DEPENDS_LANGUAGES
  )

# The set of dependency files which are needed:
set(CMAKE_DEPENDS_DEPENDENCY_FILES
  "/work/main/common/tm_err.c" "common/CMakeFiles/tm_common.dir/tm_err.c.o" "gcc" "common/CMakeFiles/tm_common.dir/tm_err.c.o.d"
  "/work/main/common/tm_fs.c" "common/CMakeFiles/tm_common.dir/tm_fs.c.o" "gcc" "common/CMakeFiles/tm_common.dir/tm_fs.c.o.d"
  "/work/main/common/tm_proc.c" "common/CMakeFiles/tm_common.dir/tm_proc.c.o" "gcc" "common/CMakeFiles/tm_common.dir/tm_proc.c.o.d"
  "/work/main/common/tm_time.c" "common/CMakeFiles/tm_common.dir/tm_time.c.o" "gcc" "common/CMakeFiles/tm_common.dir/tm_time.c.o.d"
  "/work/main/common/tm_yaml.c" "common/CMakeFiles/tm_common.dir/tm_yaml.c.o" "gcc" "common/CMakeFiles/tm_common.dir/tm_yaml.c.o.d"
  )

# Targets to which this target links.
set(CMAKE_TARGET_LINKED_INFO_FILES
  )

# Fortran module output directory.
set(CMAKE_Fortran_TARGET_MODULE_DIR "")
