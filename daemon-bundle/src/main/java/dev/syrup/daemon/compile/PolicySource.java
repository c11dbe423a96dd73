package dev.syrup.daemon.compile;

import java.nio.file.Path;

/**
 * Where a policy's C text comes from.
 *
 * @param name    what people call it: the built-in's name or the file name
 * @param file    the C file to include (a built-in is first copied out of the bundle)
 * @param builtin whether it is one of syrupd's built-in policies
 */
public record PolicySource(String name, Path file, boolean builtin) {
}
