package dedup

import (
	"strings"

	"github.com/layerq/layerq/internal/overlay"
)

// fix says in words how to stop storing what a pair of steps hides. It
// reads the steps' text and the hidden paths the way a reviewer of the
// Dockerfile would.
func fix(kind overlay.Kind, addedBy, hiddenBy string, paths []PathSize, sameStep bool) string {
	under := func(prefixes ...string) bool { return under(paths, prefixes...) }
	added := strings.ToLower(addedBy)
	if sameStep {
		return "the layer's tar holds the same path more than once; only the last copy is visible: write each file once in that step"
	}
	switch kind {
	case overlay.MetadataChanged:
		return "set the mode and owner where the file is added (COPY/ADD --chmod=… --chown=…, or chmod/chown in the same RUN that creates it) instead of a later RUN chmod/chown, which copies every file it touches into a new layer"
	case overlay.Rewritten:
		return "the same files are added again unchanged: if it is a lock file copied first for the build cache and again by COPY . ., that is the price of the cache order; otherwise drop the second COPY/ADD or narrow it"
	case overlay.Overwritten:
		return "write the final version once: change the file in the step that creates it (or create it only in the later step); every rewrite stores the whole file again"
	case overlay.OpaqueHidden:
		return "a later step replaced the whole directory (an opaque directory hides everything below it): don't fill it in an earlier step, or create it in its final form once"
	case overlay.Replaced:
		return "create the path in its final type once: a later step replaced a file or directory with another type, and the lower copy stays in the image"
	}
	// Removed or hidden by an opaque directory: deleted in a later step.
	switch {
	case under("/var/lib/apt/lists") && strings.Contains(added, "apt-get update"):
		return "combine apt-get update with rm -rf /var/lib/apt/lists/* in one RUN (RUN apt-get update && apt-get install -y … && rm -rf /var/lib/apt/lists/*)"
	case under("/var/cache/apt", "/var/lib/apt/lists"):
		return "clean apt in the same RUN that installs (… && apt-get clean && rm -rf /var/lib/apt/lists/*)"
	case under("/var/cache/apk") || strings.Contains(added, "apk add"):
		return "use apk add --no-cache instead of deleting /var/cache/apk in a later step"
	case under("/.cache/pip") || strings.Contains(added, "pip install"):
		return "use pip install --no-cache-dir, or delete in the same RUN that installs"
	case under("/.npm", "/usr/local/share/.cache/yarn", "/.cache/yarn"):
		return "clean the npm/yarn cache in the same RUN that installs (npm ci && npm cache clean --force), or use a cache mount (RUN --mount=type=cache)"
	case under("/var/cache/yum", "/var/cache/dnf"):
		return "run yum/dnf clean all in the same RUN that installs"
	}
	return "delete in the same RUN that created the files (RUN … && rm -rf …), or build them in another stage and COPY only what the image needs: a later rm only hides them"
}

// fromBase says what to do about bytes that a layer of the base image (base:
// its name, after "the base image") added and a step of this image hid: no
// step of this image can take them out of it.
func fromBase(kind overlay.Kind, base string, paths []PathSize) string {
	from := "these files come with the base image" + base
	if kind == overlay.Overwritten && under(paths, "/var/lib/dpkg/", "/var/lib/rpm/", "/lib/apk/db/", "/var/lib/apk/") {
		return "the package database of the base image" + base + ", rewritten by an install: each step that installs packages stores it whole again, so install them in one RUN"
	}
	switch kind {
	case overlay.MetadataChanged:
		return from + ": changing their mode or owner copies each whole into a new layer, and the base's copy stays; leave them as the base has them, or use a base that has them as you need"
	case overlay.Rewritten:
		return from + " already, unchanged: don't add them again (narrow the COPY/ADD)"
	case overlay.Overwritten:
		return from + ": rewriting them stores them again and the base's copy stays; fine for small configuration files, for large ones use a base without them"
	case overlay.Replaced:
		return "a later step gave a path of the base image" + base + " another type, and the base's copy stays in the image: keep the base's type, or use a base without it"
	case overlay.OpaqueHidden:
		return "a later step replaced a directory that the base image" + base + " fills (an opaque directory hides everything below it), and the base's copy stays in the image: add to the directory instead of replacing it, or use a base without it"
	}
	return from + ": a later rm only hides them, every pull still downloads them; use a slimmer base, or drop the rm, which only stores whiteouts"
}

// under reports whether a path holds one of prefixes.
func under(paths []PathSize, prefixes ...string) bool {
	for _, p := range paths {
		for _, pre := range prefixes {
			if strings.Contains(p.Path, pre) {
				return true
			}
		}
	}
	return false
}
