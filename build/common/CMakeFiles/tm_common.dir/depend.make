# Empty dependencies file for tm_common.
# This may be replaced when dependencies are built.
