"""cc_static_archive: one static library holding the objects of a cc_library and of every
cc_library it depends on, for linking from outside Bazel (Bazel 4 has no
cc_static_library). System libraries a dependency names in linkopts are not objects and are
not included: the pkg-config file lists them.
"""

load("@bazel_tools//tools/cpp:toolchain_utils.bzl", "find_cpp_toolchain")

def _cc_static_archive_impl(ctx):
    cc_toolchain = find_cpp_toolchain(ctx)
    objects = []
    for dep in ctx.attr.deps:
        for linker_input in dep[CcInfo].linking_context.linker_inputs.to_list():
            for library in linker_input.libraries:
                # Position-independent objects, so that the archive links into PIE
                # executables and into shared objects (a Rust cdylib) alike.
                objects += library.pic_objects if library.pic_objects else library.objects
    archive = ctx.actions.declare_file(ctx.attr.out)
    args = ctx.actions.args()
    args.add(archive)
    args.add_all(objects)

    # `q` appends without looking for an existing member of the same name: objects from
    # different packages may share a basename (format.o). `D` keeps the archive
    # deterministic; `s` writes the symbol index.
    ctx.actions.run_shell(
        inputs = depset(objects),
        outputs = [archive],
        tools = cc_toolchain.all_files,
        command = '"{ar}" qcsD "$@"'.format(ar = cc_toolchain.ar_executable),
        arguments = [args],
        mnemonic = "CcStaticArchive",
        progress_message = "Archiving %s" % archive.short_path,
    )
    return [DefaultInfo(files = depset([archive]))]

cc_static_archive = rule(
    implementation = _cc_static_archive_impl,
    attrs = {
        "deps": attr.label_list(providers = [CcInfo]),
        "out": attr.string(mandatory = True),
        "_cc_toolchain": attr.label(default = "@bazel_tools//tools/cpp:current_cc_toolchain"),
    },
    toolchains = ["@bazel_tools//tools/cpp:toolchain_type"],
    incompatible_use_toolchain_transition = True,
)
