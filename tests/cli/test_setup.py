"""End-to-end: scripts/setup.sh in a copied tree that carries a stale build/
(a CMakeCache.txt from another source folder) configures afresh instead of
failing. Only the configure step runs (`setup.sh --configure`), to keep it cheap."""
from harness import WeftTest, main, ROOT
import os
import shutil
import subprocess


class Setup(WeftTest):
    def test_a_stale_build_dir_from_another_checkout_is_configured_afresh(self):
        tree = os.path.join(self.tmp, "copy")
        shutil.copytree(ROOT, tree, symlinks=True,
                        ignore=shutil.ignore_patterns(".git", "build*", ".weft"))
        os.makedirs(os.path.join(tree, "build"))
        with open(os.path.join(tree, "build", "CMakeCache.txt"), "w") as f:
            f.write("# copied from another machine\n"
                    "CMAKE_HOME_DIRECTORY:INTERNAL=/somewhere/else/weft\n"
                    "CMAKE_CACHEFILE_DIR:INTERNAL=/somewhere/else/weft/build\n")
        r = subprocess.run(["bash", "scripts/setup.sh", "--configure"], cwd=tree,
                           capture_output=True, text=True, timeout=600)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertIn("setup: build/ was configured for /somewhere/else/weft, not for %s; "
                      "starting build/ afresh" % os.path.realpath(tree), r.stdout)
        with open(os.path.join(tree, "build", "CMakeCache.txt")) as f:
            self.assertIn("CMAKE_HOME_DIRECTORY:INTERNAL=%s\n" % os.path.realpath(tree), f.read())
        # a build/ of this very tree is kept
        r = subprocess.run(["bash", "scripts/setup.sh", "--configure"], cwd=tree,
                           capture_output=True, text=True, timeout=600)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertNotIn("afresh", r.stdout)


if __name__ == "__main__":
    main()
