import CPNG
import Foundation
import Storage
import Metrics
import Testing
@testable import Report

/// Decodes PNG bytes with libpng's simplified read API into `channels` (1 or 3)
/// interleaved 8-bit channels.
func decodePNG(_ png: [UInt8], channels: Int) -> (width: Int, height: Int, pixels: [UInt8])? {
    png.withUnsafeBytes { raw -> (Int, Int, [UInt8])? in
        var image = png_image()
        image.version = png_uint_32(PNG_IMAGE_VERSION)
        guard png_image_begin_read_from_memory(&image, raw.baseAddress, raw.count) != 0 else { return nil }
        image.format = channels == 3 ? png_uint_32(PNG_FORMAT_RGB) : png_uint_32(PNG_FORMAT_GRAY)
        let w = Int(image.width), h = Int(image.height)
        var pixels = [UInt8](repeating: 0, count: w * h * channels)
        let ok = pixels.withUnsafeMutableBytes { png_image_finish_read(&image, nil, $0.baseAddress, 0, nil) }
        png_image_free(&image)
        return ok != 0 ? (w, h, pixels) : nil
    }
}

/// The ids of the `<section>` elements of a page, in order.
func sectionIDs(_ html: String) -> [String] {
    html.components(separatedBy: "<section id=\"").dropFirst().map { String($0.prefix { $0 != "\"" }) }
}

@Suite struct EncodingTests {
    @Test func pngRoundTripsRGBAndGray() throws {
        for (channels, w, h) in [(3, 17, 5), (1, 8, 9), (3, 1, 1)] {
            let pixels: [UInt8] = (0..<(w * h * channels)).map { (k: Int) -> UInt8 in UInt8((k * 37 + k / 7) % 256) }
            let (png, error) = PNGEncoder.encode(pixels, width: w, height: h, channels: channels)
            #expect(error == nil)
            let bytes = try #require(png)
            #expect(Array(bytes.prefix(8)) == [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A])
            let decoded = try #require(decodePNG(bytes, channels: channels))
            #expect(decoded.width == w && decoded.height == h)
            #expect(decoded.pixels == pixels)
        }
    }

    @Test func base64KnownVectors() {
        // RFC 4648, section 10.
        let vectors = ["": "", "f": "Zg==", "fo": "Zm8=", "foo": "Zm9v", "foob": "Zm9vYg==", "fooba": "Zm9vYmE=",
                       "foobar": "Zm9vYmFy"]
        for (plain, encoded) in vectors { #expect(Base64.encode(Array(plain.utf8)) == encoded) }
        #expect(Base64.encode([0xFF, 0xFE, 0x00, 0x3E, 0x3F]) == "//4APj8=")
        let bytes = (0..<1000).map { UInt8(($0 * 131) % 256) }
        #expect(Base64.encode(bytes) == Data(bytes).base64EncodedString())
    }

    @Test func formatting() {
        #expect(Format.fixed(0.125, 2) == "0.13")
        #expect(Format.fixed(-0.004, 2) == "0.00")
        #expect(Format.fixed(-1.5, 0) == "-2")
        #expect(Format.fixed(3, 3) == "3.000")
        #expect(Format.fixed(.nan, 2) == "nan" && Format.fixed(-.infinity, 1) == "-inf")
        #expect(Format.general(0.000012346) == "1.235e-5")
        #expect(Format.general(1234.5678) == "1235")
        #expect(Format.general(0.5) == "0.5")
        #expect(Format.coord(12.04) == "12" && Format.coord(-3.25) == "-3.3")
        #expect(Format.tick(0.30000000000000004, step: 0.1) == "0.3")
        #expect(Format.escape("<a href=\"x\">'&'</a>") == "&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;")
    }

    @Test func gridGeometryAndFlippedFrame() throws {
        let images = Synthetic.pattern(side: 28, channels: 1, classes: 10)
        let grid = ImageGrid(images: images, count: 64)
        #expect(grid.tileWidth == 56 && grid.width == 8 * 56 + 9 && grid.height == 8 * 56 + 9)
        let tiles = (0..<64).map { GridTile(example: $0, flipped: $0 == 9) }
        let png = try #require(grid.png(tiles))
        let decoded = try #require(decodePNG(png, channels: 3))
        func rgb(_ x: Int, _ y: Int) -> [UInt8] { Array(decoded.pixels[3 * (y * decoded.width + x)..<3 * (y * decoded.width + x) + 3]) }
        #expect(rgb(0, 0) == ImageGrid.separatorColor)
        let o = grid.origin(of: 9)
        #expect(rgb(o.x, o.y) == ImageGrid.flippedColor)
        #expect(rgb(o.x + 28, o.y + 1) == ImageGrid.flippedColor)
        // Tile 0 (example 0, not flipped): the 2x upscale of the source, gray in RGB.
        let source = images.pixel(0)
        #expect(rgb(grid.origin(of: 0).x + 2 * 5, grid.origin(of: 0).y + 2 * 3 + 1) == [UInt8](repeating: source[3 * 28 + 5], count: 3))
        // Few tiles: fewer columns and rows; big images shrink.
        let small = ImageGrid(images: images, count: 5)
        #expect(small.columns == 5 && small.rows == 1)
        let partial = ImageGrid(images: images, count: 10)
        let partialRGB = partial.rgb((0..<10).map { GridTile(example: $0, flipped: false) })
        let blank = partial.origin(of: 12)
        #expect(partial.rows == 2 && partialRGB[3 * (blank.y * partial.width + blank.x)] == 255)
        let big = ImageGrid(images: Synthetic.pattern(side: 224, channels: 3, classes: 10), count: 12)
        #expect(big.tileWidth == 56 && big.columns == 8 && big.rows == 2)
        let bigPNG = try #require(big.png((0..<12).map { GridTile(example: $0, flipped: false) }))
        #expect(decodePNG(bigPNG, channels: 3) != nil)
    }
}

@Suite struct ChartDataTests {
    @Test func histogramCountsEveryDefinedValue() {
        var values = (0..<1000).map { Double($0 % 97) / 10 }
        values += [.nan, .nan, .infinity, -.infinity, 1e9, -1e9]
        let sorted = values.filter { !$0.isNaN }.sorted()
        let binning = try! #require(Binning.robust(sorted: sorted))
        #expect(binning.count == 40 && binning.lo >= 0 && binning.hi <= 9.6)
        let binned = BinnedScore(values: values, binning: binning)
        #expect(binned.counts().reduce(0, +) == values.count - 2)
        #expect(binned.nanCount == 2 && binned.infinite == 2)
        #expect(binned.clampedLow >= 2 && binned.clampedHigh >= 2)
        let grouped = binned.counts(groups: 3) { $0 % 3 }
        #expect(grouped.flatMap { $0 }.reduce(0, +) == values.count - 2)
    }

    @Test func histogramOfConstantAndInfiniteValues() {
        let constant = Binning.robust(sorted: [Double](repeating: 3, count: 50))!
        #expect(constant.lo < 3 && constant.hi > 3)
        #expect(BinnedScore(values: [Double](repeating: 3, count: 50), binning: constant).counts().reduce(0, +) == 50)
        #expect(Binning.robust(sorted: [-.infinity, .infinity]) == nil)
        #expect(Binning.robust(sorted: []) == nil)
        let oneOutlier = Binning.robust(sorted: [Double](repeating: 0, count: 999) + [5])!
        #expect(oneOutlier.lo == 0 && oneOutlier.hi == 5)
    }

    @Test func curvesEndAtCornersAndMatchAUROC() throws {
        var rng = SplitMix64(seed: 7)
        let n = 5000
        let positives = (0..<n).map { _ in rng.uniform() < 0.2 }
        let values = positives.map { ($0 ? 1.0 : 0) + rng.normal() }
        let order = (0..<n).sorted { values[$0] > values[$1] || (values[$0] == values[$1] && $0 < $1) }
        let full = try #require(DetectionCurves(values: values, order: order, positives: positives, maxPoints: n + 10))
        let thinned = try #require(DetectionCurves(values: values, order: order, positives: positives))
        #expect(thinned.roc.count <= 200 && thinned.pr.count <= 200)
        #expect(thinned.roc.first! == (0, 0) && thinned.roc.last! == (1, 1))
        #expect(thinned.pr.last!.0 == 1)
        func area(_ p: [(Double, Double)]) -> Double {
            zip(p, p.dropFirst()).reduce(0) { $0 + ($1.1.0 - $1.0.0) * ($1.1.1 + $1.0.1) / 2 }
        }
        let auroc = Ranking.auroc(scores: values, positives: positives, direction: .higherIsSuspicious)
        #expect(abs(area(full.roc) - auroc) < 1e-9)
        #expect(abs(area(thinned.roc) - auroc) < 0.01)
        #expect(DetectionCurves(values: values, order: order, positives: [Bool](repeating: false, count: n)) == nil)
    }

    @Test func correlationMatrixMatchesRankingSpearman() {
        var rng = SplitMix64(seed: 3)
        let a = (0..<300).map { _ in rng.normal() }
        let b = a.map { $0 * 2 + rng.normal() }
        var c = a.map { -$0 + 0.1 * rng.normal() }
        c[5] = .nan; c[7] = .infinity
        let constant = [Double](repeating: 1, count: 300)
        let m = CorrelationSection.spearmanMatrix([a, b, c, constant])
        #expect(abs(m[0][1] - Ranking.spearman(a, b)) < 1e-12)
        #expect(m[0][0] == 1 && m[1][0] == m[0][1])
        let both = (0..<300).filter { !c[$0].isNaN }
        #expect(abs(m[0][2] - Ranking.spearman(both.map { a[$0] }, both.map { c[$0] })) < 1e-12)
        #expect(m[0][3].isNaN && m[3][3].isNaN)
    }
}

@Suite struct PageTests {
    static let allSections = ["summary", "histograms", "curves", "correlations", "prune-curve", "flagged-per-class", "grids"]

    @Test func fullInputHasEverySection() {
        let html = HTMLReport.render(Synthetic.input(n: 600))
        #expect(sectionIDs(html) == Self.allSections)
        #expect(html.hasPrefix("<!DOCTYPE html>"))
        #expect(html.contains("<h2>Prune curve</h2>"))
        #expect(html.components(separatedBy: "data:image/png;base64,").count - 1 == 8)
        #expect(html.contains("AUROC"))
    }

    @Test func sectionsFollowTheInput() {
        let noNoise = HTMLReport.render(Synthetic.input(n: 300, noise: false))
        #expect(sectionIDs(noNoise) == Self.allSections.filter { $0 != "curves" })
        #expect(noNoise.contains("10 most suspicious"))
        #expect(!noNoise.contains("<th class=\"num\">AUROC</th>"))

        let noCurve = HTMLReport.render(Synthetic.input(n: 300, pruneCurve: false))
        #expect(sectionIDs(noCurve) == Self.allSections.filter { $0 != "prune-curve" })

        let noImages = HTMLReport.render(Synthetic.input(n: 300, images: false))
        #expect(sectionIDs(noImages) == Self.allSections.filter { $0 != "grids" })
        #expect(!noImages.contains("data:image/png"))
        #expect(noImages.contains("Image grids omitted"))

        let nothing = HTMLReport.render(Synthetic.input(n: 300, scoreCount: 0))
        #expect(sectionIDs(nothing) == ["summary"])
        #expect(nothing.contains("There is nothing to show"))
    }

    /// A curve joins the fractions of one strategy: the selection without its fraction.
    @Test func pruneCurveSeriesAreStrategies() {
        #expect(PruneCurveSection.strategy("el2n coverage 0.1 hard-cut 0.1 per class") == "el2n coverage hard-cut 0.1 per class")
        #expect(PruneCurveSection.strategy("aum keep-hardest 0.5 window 10") == "aum keep-hardest window 10")
        #expect(PruneCurveSection.strategy("forgetting drop-suspicious 0.2") == "forgetting drop-suspicious")
        #expect(PruneCurveSection.strategy("random") == "random")
    }

    @Test func nearDuplicatePairsAreDrawnSideBySide() {
        var input = Synthetic.input(n: 300, pruneCurve: false)
        // Examples 0 and 10 share label 0; 1 and 2 carry two labels.
        for (i, label) in [(0, 0), (10, 0), (1, 1), (2, 2)] { input.givenLabels[i] = Int32(label) }
        input.nearDuplicates = [NearDuplicatePair(first: 1, second: 2, distance: 0.001),
                                NearDuplicatePair(first: 0, second: 10, distance: 0.002),
                                NearDuplicatePair(first: 5, second: 999, distance: 0.003)]   // out of range: left out
        let html = HTMLReport.render(input)
        #expect(sectionIDs(html) == Self.allSections.filter { $0 != "prune-curve" } .flatMap { $0 == "grids" ? ["near-duplicates", "grids"] : [$0] })
        #expect(html.contains("<b>2</b> pairs of training examples") && html.contains("<b>1</b> of them with two different labels"))
        #expect(html.contains("#1 ↔ #2 \(input.classNames[Int(input.givenLabels[1])]) ≠ \(input.classNames[Int(input.givenLabels[2])])"))
        #expect(html.contains("alt=\"near-duplicate pairs\""))
        input.images = nil
        #expect(HTMLReport.render(input).contains("The pairs are drawn when the run"))
        input.nearDuplicates = []
        #expect(HTMLReport.render(input).contains("<b>0</b> pairs"))
    }

    @Test func userTextIsEscaped() {
        var input = Synthetic.input(n: 200)
        input.title = "<script>alert('title')</script>"
        input.scores[1].name = "<script>alert(1)</script>"
        input.classNames[3] = "<script>cls</script>"
        input.paths![0] = "\"><script>path</script>"
        input.facts.append(("<b>key</b>", "<img src=x onerror=alert(1)>"))
        input.pruneCurve![0].selection = "<script>sel</script>"
        let html = HTMLReport.render(input)
        #expect(!html.lowercased().contains("<script"))
        #expect(!html.contains("<img src=x"))
        #expect(html.contains("&lt;script&gt;alert(1)&lt;/script&gt;"))
        #expect(html.contains("&lt;script&gt;cls&lt;/script&gt;"))
        #expect(html.contains("&lt;script&gt;sel&lt;/script&gt;"))
    }

    @Test func noNetworkNoScripts() {
        for input in [Synthetic.input(n: 500), Synthetic.input(n: 100, noise: false, images: false)] {
            let html = HTMLReport.render(input)
            #expect(!html.contains("http://") && !html.contains("https://"))
            #expect(!html.lowercased().contains("<script"))
            #expect(!html.contains("xmlns"))
            #expect(!html.contains("<link") && !html.contains("@import") && !html.contains("url("))
        }
    }

    @Test func deterministic() {
        let a = HTMLReport.render(Synthetic.input(n: 700))
        let b = HTMLReport.render(Synthetic.input(n: 700))
        #expect(a == b)
    }

    @Test func edgeCasesRender() {
        // Fewer examples than tiles.
        let tiny = HTMLReport.render(Synthetic.input(n: 10, classes: 3))
        #expect(sectionIDs(tiny) == Self.allSections)
        #expect(tiny.contains("10 most suspicious"))
        // One class: nothing to flip, curves omitted with a note.
        let one = HTMLReport.render(Synthetic.input(n: 100, classes: 1))
        #expect(one.contains("Curves omitted: no example is flipped"))
        // Constant, NaN and infinite values; a score of the wrong length.
        var input = Synthetic.input(n: 400)
        input.scores[0].values = [Double](repeating: 1, count: 400)
        input.scores[1].values[3] = .nan
        input.scores[1].values[4] = .infinity
        input.scores[2].values = [Double](repeating: .nan, count: 400)
        input.scores.append(Score(name: "short", values: [1, 2], direction: .higherIsSuspicious, note: "wrong length"))
        let odd = HTMLReport.render(input)
        #expect(sectionIDs(odd) == Self.allSections)
        #expect(odd.contains("score short left out"))
        #expect(odd.contains("1 NaN skipped"))
        #expect(odd.contains("no finite values"))
        #expect(odd.contains("Left out (NaN values)"))
        // Values spanning the whole Double range, and pixels of the wrong length.
        var extreme = Synthetic.input(n: 100)
        extreme.scores[0].values = (0..<100).map { $0 % 2 == 0 ? -1e308 : 1e308 }
        extreme.images = ReportImages(channels: 1, height: 28, width: 28) { _ in [1, 2, 3] }
        #expect(sectionIDs(HTMLReport.render(extreme)) == Self.allSections)
        extreme.images = ReportImages(channels: 0, height: 0, width: 5) { _ in [] }
        #expect(HTMLReport.render(extreme).contains("data:image/png;base64,"))
        // Many classes: no per-class small multiples.
        let many = HTMLReport.render(Synthetic.input(n: 500, classes: 30))
        #expect(many.contains("Per-class histograms omitted: 30 classes"))
        // RGB images.
        let rgb = HTMLReport.render(Synthetic.input(n: 100, side: 32, channels: 3))
        #expect(rgb.contains("width=\"521\""))
    }

    /// A 60,000-example, 15-score report renders well under a second in release
    /// builds and stays a few MB (asserted with slack for slow shared machines).
    @Test func largeReportIsFastAndSmall() {
        let input = Synthetic.input(n: 60_000, scoreCount: 15)
        let clock = ContinuousClock()
        var html = ""
        let elapsed = clock.measure { html = HTMLReport.render(input) }
        let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) * 1e-18
        let megabytes = Double(html.utf8.count) / 1e6
        print("report of 60000 examples, 15 scores: \(Format.fixed(seconds, 3)) s, \(Format.fixed(megabytes, 2)) MB")
        #expect(megabytes < 6)
        #expect(seconds < 5)
    }
}
