package walker_test

import (
	"archive/tar"
	"context"
	"testing"

	"github.com/layerq/layerq/internal/sample"
	"github.com/layerq/layerq/internal/testenv/registrytest"
)

// Layers the spec's mapping gives to an instruction that changes only the
// config are re-attributed to the nearest step that writes files, and
// history_mismatch says so; histories that map right stay as they are.
func TestHonestSteps(t *testing.T) {
	t.Parallel()
	files := func(p string) []sample.File { return []sample.File{{Path: p, Content: sample.Text(p, 3000)}} }
	cases := []struct {
		name  string
		steps []sample.Step
		// want: per layer, the history entry it is attributed to.
		want     []int
		mismatch string
	}{{
		// buildah: the base's ADD marked empty, its CMD not (classic spelling).
		name: "buildah",
		steps: []sample.Step{
			{CreatedBy: "/bin/sh -c #(nop) ADD file:4b03b5f551e3fbdf47ec609712007327828f7530cc3455c43bbcdcaf449a75a9 in / ", Empty: true},
			{CreatedBy: `/bin/sh -c #(nop)  CMD ["bash"]`, Files: files("etc/os-release")},
			{CreatedBy: "/bin/sh -c apt-get update && apt-get install -y curl", Files: files("usr/bin/curl")},
		},
		want: []int{0, 2},
		mismatch: `layer #0 is from history entry #0 (/bin/sh -c #(nop) ADD file:4b03b5f551e3fbdf47ec609712007327…, marked empty_layer), ` +
			`not #1 (/bin/sh -c #(nop) CMD ["bash"]), which makes no layer`,
	}, {
		// The same mistake in BuildKit's spelling, with an ENV between.
		name: "buildkit spelling",
		steps: []sample.Step{
			{CreatedBy: "COPY /out/app /app # buildkit", Empty: true},
			{CreatedBy: "ENV MODE=prod", Empty: true},
			{CreatedBy: `ENTRYPOINT ["/app"]`, Files: files("app")},
		},
		want:     []int{0},
		mismatch: `layer #0 is from history entry #0 (COPY /out/app /app # buildkit, marked empty_layer), not #2 (ENTRYPOINT ["/app"]), which makes no layer`,
	}, {
		// Nothing that writes files below: the nearest one above.
		name: "above",
		steps: []sample.Step{
			{CreatedBy: "LABEL a=b", Files: files("a")},
			{CreatedBy: "RUN /bin/sh -c make # buildkit", Empty: true},
		},
		want:     []int{1},
		mismatch: `layer #0 is from history entry #1 (RUN /bin/sh -c make # buildkit, marked empty_layer), not #0 (LABEL a=b), which makes no layer`,
	}, {
		// The RUN between two CMD layers goes to the upper one (it is below
		// it); the lower has nothing left, which is said.
		name: "contended",
		steps: []sample.Step{
			{CreatedBy: "CMD a", Files: files("a")},
			{CreatedBy: "|1 V=2 /bin/sh -c make", Empty: true},
			{CreatedBy: "CMD b", Files: files("b")},
		},
		want: []int{0, 1},
		mismatch: `layer #0 maps to history entry #0 (CMD a), which makes no layer, and no ADD, COPY or RUN entry beside it could have made it; ` +
			`layer #1 is from history entry #1 (|1 V=2 /bin/sh -c make, marked empty_layer), not #2 (CMD b), which makes no layer`,
	}, {
		// The classic builder, mapped right: nothing changes.
		name: "dockerfile",
		steps: []sample.Step{
			{CreatedBy: "/bin/sh -c #(nop) ADD file:4b03b5f551e3fbdf47ec609712007327828f7530cc3455c43bbcdcaf449a75a9 in / ", Files: files("etc/os-release")},
			{CreatedBy: `/bin/sh -c #(nop)  CMD ["bash"]`, Empty: true},
			{CreatedBy: "/bin/sh -c apt-get update", Files: files("var/lib/apt/lists/x")},
			{CreatedBy: "|1 V=2 /bin/sh -c make", Files: files("usr/bin/app")},
			{CreatedBy: "/bin/sh -c #(nop) WORKDIR /app", Empty: true},
			{CreatedBy: "/bin/sh -c #(nop) COPY file:9f2c in /app ", Files: files("app/main")},
			{CreatedBy: `/bin/sh -c #(nop)  ENTRYPOINT ["/app/main"]`, Empty: true},
		},
		want: []int{0, 2, 3, 5},
	}, {
		// BuildKit, mapped right: WORKDIR's own small layer (the directory
		// it made) and an empty layer stay with their steps, though a RUN
		// marked empty is beside them.
		name: "buildkit",
		steps: []sample.Step{
			{CreatedBy: "ADD rootfs.tar / # buildkit", Files: files("etc/os-release")},
			{CreatedBy: "RUN /bin/sh -c true # buildkit", Empty: true},
			{CreatedBy: "WORKDIR /srv/app", Files: []sample.File{{Path: "srv", Type: tar.TypeDir}, {Path: "srv/app", Type: tar.TypeDir}}},
			{CreatedBy: "RUN /bin/sh -c true # buildkit", Empty: true},
			{CreatedBy: "LABEL version=1"},
		},
		want: []int{0, 2, 4},
	}}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			reg := registrytest.New(t)
			img := mustBuild(t, sample.Spec{Steps: c.steps})
			reg.PushImage(t, "team/steps:1", img)
			obs, err := newWalker(t).Walk(context.Background(), reg.Host, "team/steps", "1")
			if err != nil {
				t.Fatal(err)
			}
			m := obs.Root()
			if m.HistoryMismatch != c.mismatch {
				t.Errorf("mismatch = %q\nwant       %q", m.HistoryMismatch, c.mismatch)
			}
			if len(m.Layers) != len(c.want) {
				t.Fatalf("%d layers, want %d", len(m.Layers), len(c.want))
			}
			for i, h := range c.want {
				l := m.Layers[i]
				if l.HistoryIndex != h || l.CreatedBy != c.steps[h].CreatedBy || l.Created == nil || !l.Created.Equal(*m.History[h].Created) {
					t.Errorf("layer %d: entry %d %q (created %v); want %d %q", i, l.HistoryIndex, l.CreatedBy, l.Created, h, c.steps[h].CreatedBy)
				}
			}
		})
	}
}
