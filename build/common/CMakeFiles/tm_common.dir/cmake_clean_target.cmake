file(REMOVE_RECURSE
  "libtm_common.a"
)
