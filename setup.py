"""Build the one extension, qjs._engine: the Cython binding plus the vendored QuickJS-ng.

Switches (environment):
  QJS_DEBUG=1     assertions on, -O1 -g, live-object invariant checks
  QJS_SANITIZE=1  AddressSanitizer + UndefinedBehaviorSanitizer (implies QJS_DEBUG)
  QJS_WERROR=1    warnings in the project's own C are errors (CI)
  QJS_LTO=0       no link-time optimisation in a release build (faster rebuilds)

A release build (no QJS_DEBUG) carries no debug information and, on Linux, is
stripped at link time: the manylinux wheel shrinks from about 3.6 MB to 0.7 MB.
"""

import os
import sys
import sysconfig

from Cython.Build import cythonize
from setuptools import Extension, setup

VENDOR = "vendor/quickjs-ng"
DEBUG = os.environ.get("QJS_DEBUG") == "1" or os.environ.get("QJS_SANITIZE") == "1"
SANITIZE = os.environ.get("QJS_SANITIZE") == "1"
WERROR = os.environ.get("QJS_WERROR") == "1"
LTO = os.environ.get("QJS_LTO", "1") != "0" and not DEBUG


def _release_flags():
    """Release-only flags for GCC/clang, chosen by measurement (benchmarks/NOTES.md):
    LTO lets the binding inline the engine's small API functions (JS_FreeValue, value
    constructors): -5.5% instructions per Python -> JS call, tight JS loops unchanged.
    -fno-plt calls libpython through the GOT (ELF only): -0.5%."""
    cc = os.environ.get("CC") or sysconfig.get_config_var("CC") or ""
    compile_args, link_args = [], []
    if LTO:
        # GCC: one partition, so no parallel LTRANS jobs (nor a warning about them);
        # clang or an unnamed `cc`: plain -flto, which both understand
        is_gcc = any("gcc" in os.path.basename(t) for t in cc.split() if not t.startswith("-"))
        lto = ["-flto", "-flto-partition=one"] if is_gcc else ["-flto"]
        compile_args += lto
        link_args += lto
    if sys.platform.startswith("linux"):
        compile_args.append("-fno-plt")
    return compile_args, link_args


define_macros = [("QUICKJS_NG_BUILD", None), ("_GNU_SOURCE", None)]
if DEBUG:
    define_macros.append(("QJS_DEBUG", "1"))
else:
    define_macros.append(("NDEBUG", None))

if sys.platform == "win32":
    # MSVC, as upstream's CMakeLists.txt builds the engine: C11 with its C11 atomics
    # (VS 2022 17.5+), windows.h without winsock 1 (cutils.h includes winsock2.h),
    # Windows 8 APIs, and the /W3 warnings the engine is known to trigger silenced.
    define_macros += [("WIN32_LEAN_AND_MEAN", None), ("_WIN32_WINNT", "0x0602")]
    # Atomics and SharedArrayBuffer: MSVC keeps __STDC_NO_ATOMICS__ defined even with
    # /experimental:c11atomics, which quickjs.c reads as "no atomics";
    # src/qjs/csrc/qjs_engine.c turns them on for MSVC 19.35+ (VS 2022 17.5+).
    define_macros.append(("QJS_FORCE_ATOMICS", "1"))
    extra_compile_args = [
        "/std:c11",
        "/experimental:c11atomics",
        "/wd4018",  # signed/unsigned mismatch
        "/wd4200",  # zero-sized array in struct
        "/wd4244",  # conversion, possible loss of data
        "/wd4267",  # size_t to smaller type
        "/wd4996",  # deprecated CRT functions
        "/J",  # char is unsigned, as upstream builds the engine everywhere
    ]
    extra_compile_args += ["/Od", "/Zi"] if DEBUG else ["/O2"]
    extra_link_args = ["/DEBUG"] if DEBUG else []
    libraries = []
else:
    extra_compile_args = [
        "-std=gnu11",
        "-fvisibility=hidden",
        "-fno-strict-aliasing",
        "-funsigned-char",  # as upstream builds the engine everywhere
        "-fwrapv",
        "-Wno-unused-function",
        "-Wno-sign-compare",
        "-Wno-unused-parameter",
        "-Wno-implicit-fallthrough",
        "-Wno-missing-field-initializers",
    ]
    extra_link_args = []
    libraries = ["m"] if sys.platform.startswith("linux") else []
    if DEBUG:
        extra_compile_args += ["-O1", "-g", "-fno-omit-frame-pointer"]
    else:
        # no debug information (Python's CFLAGS ask for -g) and, on Linux, no symbol table
        extra_compile_args += ["-O2", "-g0"]
        if sys.platform.startswith("linux"):
            extra_link_args += ["-s"]
        more_compile, more_link = _release_flags()
        extra_compile_args += more_compile
        extra_link_args += more_link
    if SANITIZE:
        extra_compile_args += ["-fsanitize=address,undefined", "-fno-sanitize-recover=undefined"]
        extra_link_args += ["-fsanitize=address,undefined"]
    if WERROR:
        extra_compile_args += ["-Werror=implicit-function-declaration", "-Werror=incompatible-pointer-types"]

extension = Extension(
    "qjs._engine",
    sources=[
        "src/qjs/_engine.pyx",
        "src/qjs/csrc/qjs_engine.c",
        f"{VENDOR}/libregexp.c",
        f"{VENDOR}/libunicode.c",
        f"{VENDOR}/dtoa.c",
    ],
    include_dirs=[VENDOR, "src/qjs/includes", "src/qjs/csrc"],
    define_macros=define_macros,
    extra_compile_args=extra_compile_args,
    extra_link_args=extra_link_args,
    libraries=libraries,
    depends=["src/qjs/includes/quickjs.pxd", "src/qjs/includes/shim.h", f"{VENDOR}/quickjs.c",
             "src/qjs/csrc/qjs_snapshot.c"],
)

directives = {
    "language_level": 3,
    "boundscheck": False,
    "wraparound": False,
    "cdivision": True,
    "embedsignature": True,
    "freethreading_compatible": True,
}
if DEBUG:
    directives.update(boundscheck=True, wraparound=True)

setup(
    ext_modules=cythonize(
        [extension],
        compiler_directives=directives,
        compile_time_env={"QJS_DEBUG": DEBUG},
        include_path=["src/qjs", "src/qjs/includes"],
    )
)
