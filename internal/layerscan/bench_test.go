package layerscan

import (
	"archive/tar"
	"bufio"
	"bytes"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"
)

// genCorpus is content that compresses roughly like a mix of text and
// binaries: about 2.5-3x with gzip -6 overall.
var genCorpus = sync.OnceValue(func() []byte {
	rng := rand.New(rand.NewPCG(7, 8))
	words := make([]string, 2000)
	for i := range words {
		w := make([]byte, 2+rng.IntN(10))
		for j := range w {
			w[j] = byte('a' + rng.IntN(26))
		}
		words[i] = string(w)
	}
	var b bytes.Buffer
	for b.Len() < 8<<20 {
		switch rng.IntN(10) {
		case 0: // incompressible run (already-compressed data, random IDs)
			r := make([]byte, 1<<10+rng.IntN(4<<10))
			for i := range r {
				r[i] = byte(rng.Uint32())
			}
			b.Write(r)
		case 1, 2, 3: // structured binary: small integers, repeated records
			for range 64 + rng.IntN(512) {
				fmt.Fprintf(&b, "%c%c\x00\x00%c\x00\x00\x00", byte(rng.IntN(8)), byte(rng.IntN(256)), byte(rng.IntN(4)))
			}
		default: // text from a 2000-word vocabulary
			for range 200 + rng.IntN(2000) {
				b.WriteString(words[rng.IntN(len(words))])
				if rng.IntN(12) == 0 {
					b.WriteByte('\n')
				} else {
					b.WriteByte(' ')
				}
			}
		}
	}
	return b.Bytes()
})

// genLayer writes a deterministic tar of at least size bytes: directories,
// a few links, and files of mixed sizes (70% under 4 KiB, 25% under 64 KiB,
// 4.5% under 1 MiB, 0.5% of 1-8 MiB; about 40 KB on average), 5% of which
// repeat an earlier file's content.
func genLayer(w io.Writer, size int64, seed uint64) (int, error) {
	corpus := genCorpus()
	rng := rand.New(rand.NewPCG(seed, 9))
	tw := tar.NewWriter(w)
	var written int64
	var prev [][2]int
	files := 0
	for dir := 0; written < size; dir++ {
		d := fmt.Sprintf("./usr/share/pkg%d/", dir)
		if err := tw.WriteHeader(&tar.Header{Name: d, Typeflag: tar.TypeDir, Mode: 0o755}); err != nil {
			return files, err
		}
		for i := 0; i < 40 && written < size; i++ {
			var n int
			switch p := rng.IntN(1000); {
			case p < 700:
				n = 1 + rng.IntN(4<<10)
			case p < 950:
				n = 4<<10 + rng.IntN(60<<10)
			case p < 995:
				n = 64<<10 + rng.IntN(960<<10)
			default:
				n = 1<<20 + rng.IntN(7<<20)
			}
			off := rng.IntN(len(corpus) - n)
			if len(prev) > 0 && rng.IntN(20) == 0 {
				dup := prev[rng.IntN(len(prev))]
				off, n = dup[0], dup[1]
			}
			prev = append(prev, [2]int{off, n})
			name := d + "file" + strconv.Itoa(i)
			if err := tw.WriteHeader(&tar.Header{Name: name, Typeflag: tar.TypeReg, Mode: 0o644, Size: int64(n)}); err != nil {
				return files, err
			}
			if _, err := tw.Write(corpus[off : off+n]); err != nil {
				return files, err
			}
			written += int64(n) + 512
			files++
			if i%10 == 9 {
				tw.WriteHeader(&tar.Header{Name: name + ".lnk", Typeflag: tar.TypeSymlink, Linkname: "file0", Mode: 0o777})
			}
		}
	}
	return files, tw.Close()
}

type benchBlobs struct {
	tar, gzip, zstd []byte
	files           int
}

var benchLayer = sync.OnceValue(func() benchBlobs {
	var t bytes.Buffer
	files, err := genLayer(&t, 256<<20, 1)
	if err != nil {
		panic(err)
	}
	var g bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&g, gzip.DefaultCompression)
	zw.Write(t.Bytes())
	zw.Close()
	var z bytes.Buffer
	ze, _ := zstd.NewWriter(&z, zstd.WithEncoderLevel(zstd.SpeedDefault))
	ze.Write(t.Bytes())
	ze.Close()
	return benchBlobs{tar: t.Bytes(), gzip: g.Bytes(), zstd: z.Bytes(), files: files}
})

// runTool pipes blob through an external decompressor into /dev/null.
func runTool(b *testing.B, blob []byte, tool string, args ...string) {
	devnull, err := os.OpenFile(os.DevNull, os.O_WRONLY, 0)
	if err != nil {
		b.Fatal(err)
	}
	defer devnull.Close()
	cmd := exec.Command(tool, args...)
	cmd.Stdin = bytes.NewReader(blob)
	cmd.Stdout = devnull
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		b.Fatalf("%s: %v: %s", tool, err, stderr.String())
	}
}

// benchCompressed runs, in this order, the system decompressor (if
// present), klauspost decode-only, and Scan over the same blob; Scan then
// reports its throughput relative to each (>1: Scan is faster).
func benchCompressed(b *testing.B, blob []byte, uncompressed int64, files int, tool string, decode func(io.Reader) error) {
	b.Logf("layer: %d files, %d bytes uncompressed, %d bytes compressed (%.2fx)",
		files, uncompressed, len(blob), float64(uncompressed)/float64(len(blob)))
	var toolNs, decodeNs float64
	toolPath, err := exec.LookPath(tool)
	if err == nil {
		b.Run(tool+"-dc", func(b *testing.B) {
			b.SetBytes(uncompressed)
			for range b.N {
				// cmd.Output would buffer; write to /dev/null instead.
				runTool(b, blob, toolPath, "-dc")
			}
			toolNs = float64(b.Elapsed().Nanoseconds()) / float64(b.N)
		})
	} else {
		b.Logf("no system %s: comparing with klauspost decode-only throughput only", tool)
	}
	b.Run("klauspost-decode", func(b *testing.B) {
		b.SetBytes(uncompressed)
		for range b.N {
			if err := decode(bytes.NewReader(blob)); err != nil {
				b.Fatal(err)
			}
		}
		decodeNs = float64(b.Elapsed().Nanoseconds()) / float64(b.N)
	})
	b.Run("scan", func(b *testing.B) {
		b.SetBytes(uncompressed)
		b.ReportAllocs()
		for range b.N {
			idx, err := Scan(bytes.NewReader(blob), Limits{})
			if err != nil {
				b.Fatal(err)
			}
			if idx.UncompressedSize != uncompressed {
				b.Fatalf("UncompressedSize = %d, want %d", idx.UncompressedSize, uncompressed)
			}
		}
		ns := float64(b.Elapsed().Nanoseconds()) / float64(b.N)
		if toolNs > 0 {
			b.ReportMetric(toolNs/ns, "speed-vs-"+tool+"-dc")
		}
		if decodeNs > 0 {
			b.ReportMetric(decodeNs/ns, "speed-vs-decode-only")
		}
	})

	// All cores: as many system decompressors at once as Go may run
	// threads, against as many Scans at once (layer scanners run in
	// parallel, one blob each). The ratio is of aggregate throughputs.
	procs := runtime.GOMAXPROCS(0)
	var parToolNs float64
	if toolPath != "" {
		b.Run(fmt.Sprintf("%s-dc-x%d", tool, procs), func(b *testing.B) {
			b.SetBytes(uncompressed * int64(procs))
			for range b.N {
				var wg sync.WaitGroup
				for range procs {
					wg.Go(func() { runTool(b, blob, toolPath, "-dc") })
				}
				wg.Wait()
			}
			parToolNs = float64(b.Elapsed().Nanoseconds()) / float64(b.N)
		})
	}
	b.Run(fmt.Sprintf("scan-x%d", procs), func(b *testing.B) {
		b.SetBytes(uncompressed * int64(procs))
		for range b.N {
			var wg sync.WaitGroup
			for range procs {
				wg.Go(func() {
					if _, err := Scan(bytes.NewReader(blob), Limits{}); err != nil {
						b.Error(err)
					}
				})
			}
			wg.Wait()
		}
		ns := float64(b.Elapsed().Nanoseconds()) / float64(b.N)
		if parToolNs > 0 {
			b.ReportMetric(parToolNs/ns, fmt.Sprintf("speed-vs-%s-dc-x%d", tool, procs))
		}
	})
}

func BenchmarkScanGzip(b *testing.B) {
	l := benchLayer()
	benchCompressed(b, l.gzip, int64(len(l.tar)), l.files, "gzip", func(r io.Reader) error {
		// Through a bufio.Reader as in Scan: given a *bytes.Reader directly,
		// klauspost/flate takes a faster path that a network body never gets.
		zr, err := gzip.NewReader(bufio.NewReaderSize(r, readBufSize))
		if err != nil {
			return err
		}
		_, err = io.Copy(io.Discard, zr)
		return err
	})
}

func BenchmarkScanZstd(b *testing.B) {
	l := benchLayer()
	benchCompressed(b, l.zstd, int64(len(l.tar)), l.files, "zstd", func(r io.Reader) error {
		// The input path and decoder options Scan uses.
		zr, err := zstd.NewReader(bufio.NewReaderSize(r, readBufSize), zstd.WithDecoderConcurrency(1), zstd.WithDecoderLowmem(true),
			zstd.WithDecoderMaxWindow(DefaultMaxZstdWindow), zstd.WithDecoderMaxMemory(DefaultMaxZstdWindow))
		if err != nil {
			return err
		}
		defer zr.Close()
		_, err = io.Copy(io.Discard, zr)
		return err
	})
}

func BenchmarkScanUncompressed(b *testing.B) {
	l := benchLayer()
	b.SetBytes(int64(len(l.tar)))
	for range b.N {
		if _, err := Scan(bytes.NewReader(l.tar), Limits{}); err != nil {
			b.Fatal(err)
		}
	}
}

const rssChildEnv = "LAYERSCAN_RSS_CHILD"

// BenchmarkScanPeakRSS scans a 1 GiB layer, generated and compressed on
// the fly by this process, in a child process reading it from stdin, and
// reports the child's peak RSS (VmHWM: the whole process, Go runtime and
// test binary included). Goal: at most 64 MB.
func BenchmarkScanPeakRSS(b *testing.B) {
	if _, err := os.Stat("/proc/self/status"); err != nil {
		b.Skip("needs /proc/self/status")
	}
	const size = 1 << 30
	// zstd-window32M: frames declaring the largest window Scan accepts by
	// default (zstd --long=25 or --ultra level 20 would), the worst case.
	for _, comp := range []string{"gzip", "zstd", "zstd-window32M"} {
		b.Run(comp, func(b *testing.B) {
			b.SetBytes(size)
			for range b.N {
				res := runRSSChild(b, comp, size)
				b.ReportMetric(float64(res["peak_kb"])/1024, "peak-RSS-MiB")
				b.ReportMetric(float64(res["start_kb"])/1024, "start-RSS-MiB")
				b.ReportMetric(float64(res["entries"]), "entries")
				if res["peak_kb"] > 64<<10 {
					b.Errorf("peak RSS %d KiB exceeds the 64 MiB goal", res["peak_kb"])
				}
			}
		})
	}
}

func runRSSChild(b *testing.B, comp string, size int64) map[string]int64 {
	cmd := exec.Command(os.Args[0], "-test.run=^TestPeakRSSChild$", "-test.v")
	cmd.Env = append(os.Environ(), rssChildEnv+"=1")
	stdin, err := cmd.StdinPipe()
	if err != nil {
		b.Fatal(err)
	}
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	genErr := make(chan error, 1)
	go func() {
		bw := bufio.NewWriterSize(stdin, 1<<20)
		var zw io.WriteCloser
		switch comp {
		case "gzip":
			zw, _ = gzip.NewWriterLevel(bw, gzip.BestSpeed)
		case "zstd":
			zw, _ = zstd.NewWriter(bw, zstd.WithEncoderLevel(zstd.SpeedFastest), zstd.WithEncoderConcurrency(1))
		default:
			zw, _ = zstd.NewWriter(bw, zstd.WithEncoderLevel(zstd.SpeedFastest), zstd.WithEncoderConcurrency(1),
				zstd.WithWindowSize(DefaultMaxZstdWindow))
		}
		_, err := genLayer(zw, size, 2)
		if err == nil {
			err = zw.Close()
		}
		if err == nil {
			err = bw.Flush()
		}
		stdin.Close()
		genErr <- err
	}()
	werr := cmd.Wait()
	if err := <-genErr; err != nil {
		b.Fatalf("generator: %v\n%s", err, out.String())
	}
	if werr != nil {
		b.Fatalf("child: %v\n%s", werr, out.String())
	}
	res := map[string]int64{}
	for _, line := range strings.Split(out.String(), "\n") {
		_, rest, ok := strings.Cut(line, "RSSRESULT ")
		if !ok {
			continue
		}
		for _, kv := range strings.Fields(rest) {
			k, v, _ := strings.Cut(kv, "=")
			n, _ := strconv.ParseInt(v, 10, 64)
			res[k] = n
		}
	}
	if res["peak_kb"] == 0 {
		b.Fatalf("no result from child:\n%s", out.String())
	}
	b.Logf("%s: %d entries, %d uncompressed bytes, RSS at start %d KiB, peak %d KiB",
		comp, res["entries"], res["bytes"], res["start_kb"], res["peak_kb"])
	return res
}

// TestPeakRSSChild is the child side of BenchmarkScanPeakRSS; it does
// nothing unless started by it.
func TestPeakRSSChild(t *testing.T) {
	if os.Getenv(rssChildEnv) != "1" {
		t.Skip("child of BenchmarkScanPeakRSS")
	}
	start := vmHWM(t)
	idx, err := Scan(os.Stdin, Limits{})
	if err != nil {
		t.Fatal(err)
	}
	peak := vmHWM(t)
	fmt.Printf("RSSRESULT start_kb=%d peak_kb=%d entries=%d bytes=%d\n", start, peak, len(idx.Entries), idx.UncompressedSize)
}

// vmHWM returns the process's peak resident set size in KiB.
func vmHWM(t *testing.T) int64 {
	data, err := os.ReadFile("/proc/self/status")
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(data), "\n") {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			n, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			if err != nil {
				t.Fatal(err)
			}
			return n
		}
	}
	t.Fatal("no VmHWM in /proc/self/status")
	return 0
}
