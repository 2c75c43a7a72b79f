/// One tile of an image grid: which example, and whether its label was flipped
/// (drawn with a red frame).
struct GridTile {
    var example: Int
    var flipped: Bool
}

/// Grids of example images (8 tiles a row, 1 px separators) as one RGB picture:
/// small images (<= 32 px) are doubled with nearest neighbour, large ones (> 64 px)
/// shrunk by an integer box filter, so a tile is 32...64 px for typical data sets.
struct ImageGrid {
    static let maxColumns = 8
    static let separator = 1
    static let frame = 2
    static let separatorColor: [UInt8] = [170, 170, 170]
    static let flippedColor: [UInt8] = [220, 30, 30]

    let images: ReportImages
    let columns: Int, rows: Int
    /// Output pixels per source pixel (2 for small images) and source pixels per output
    /// pixel (> 1 for large images); one of them is 1.
    let up: Int, down: Int
    let tileHeight: Int, tileWidth: Int

    init(images: ReportImages, count: Int) {
        self.images = images
        columns = max(1, min(Self.maxColumns, count))
        rows = max(1, (count + Self.maxColumns - 1) / Self.maxColumns)
        let side = max(images.height, images.width)
        up = side <= 32 ? 2 : 1
        down = side > 64 ? (side + 63) / 64 : 1
        tileHeight = max(1, (images.height * up + down - 1) / down)
        tileWidth = max(1, (images.width * up + down - 1) / down)
    }

    var width: Int { columns * tileWidth + (columns + 1) * Self.separator }
    var height: Int { rows * tileHeight + (rows + 1) * Self.separator }

    /// The top-left corner of tile `k` (row-major) in the picture.
    func origin(of k: Int) -> (x: Int, y: Int) {
        (Self.separator + (k % columns) * (tileWidth + Self.separator),
         Self.separator + (k / columns) * (tileHeight + Self.separator))
    }

    /// The grid as interleaved RGB, `width * height * 3` bytes; `fetch` runs the
    /// caller's `pixel` closure (through a ``SerialGate`` when grids are drawn in parallel).
    func rgb(_ tiles: [GridTile], fetch: (() -> [[UInt8]]) -> [[UInt8]] = { $0() }) -> [UInt8] {
        let shown = Array(tiles.prefix(rows * columns))
        let sources = fetch { shown.map { images.pixel($0.example) } }
        var out = [UInt8](repeating: 0, count: width * height * 3)
        for i in out.indices { out[i] = Self.separatorColor[i % 3] }
        for (k, tile) in shown.enumerated() { draw(tile, sources[k], at: origin(of: k), into: &out) }
        for k in shown.count..<(rows * columns) { blank(at: origin(of: k), into: &out) }
        return out
    }

    /// The grid as PNG bytes (nil if libpng refuses, which it should not); libpng's
    /// fast mode: 4x faster than its default and ~10% larger on Fashion-MNIST grids.
    func png(_ tiles: [GridTile], fetch: (() -> [[UInt8]]) -> [[UInt8]] = { $0() }) -> [UInt8]? {
        PNGEncoder.encode(rgb(tiles, fetch: fetch), width: width, height: height, channels: 3, fast: true).png
    }

    private func draw(_ tile: GridTile, _ src: [UInt8], at o: (x: Int, y: Int), into out: inout [UInt8]) {
        let c = images.channels, h = images.height, w = images.width
        let valid = c > 0 && h > 0 && w > 0 && src.count == c * h * w
        let planes = c == 3 ? [0, h * w, 2 * h * w] : [0, 0, 0]
        for ty in 0..<tileHeight {
            for tx in 0..<tileWidth {
                let at = 3 * ((o.y + ty) * width + o.x + tx)
                let framed = tile.flipped && onFrame(ty, tx)
                for k in 0..<3 {
                    out[at + k] = framed ? Self.flippedColor[k] : valid ? sample(src, plane: planes[k], y: ty, x: tx) : 128
                }
            }
        }
    }

    /// An unused slot of the last row: white, with its right and bottom separators.
    private func blank(at o: (x: Int, y: Int), into out: inout [UInt8]) {
        for y in o.y..<min(height, o.y + tileHeight + Self.separator) {
            for x in o.x..<min(width, o.x + tileWidth + Self.separator) {
                let at = 3 * (y * width + x)
                out[at] = 255; out[at + 1] = 255; out[at + 2] = 255
            }
        }
    }

    private func onFrame(_ y: Int, _ x: Int) -> Bool {
        y < Self.frame || x < Self.frame || y >= tileHeight - Self.frame || x >= tileWidth - Self.frame
    }

    /// One channel of output pixel (y, x) of a tile: the source pixel (upscaling) or
    /// the mean of the `down x down` block it covers.
    private func sample(_ src: [UInt8], plane: Int, y: Int, x: Int) -> UInt8 {
        let h = images.height, w = images.width
        let y0 = min(h - 1, y * down / up), x0 = min(w - 1, x * down / up)
        if down == 1 { return src[plane + y0 * w + x0] }
        let y1 = min(h, y0 + down), x1 = min(w, x0 + down)
        var sum = 0
        for sy in y0..<y1 { for sx in x0..<x1 { sum += Int(src[plane + sy * w + sx]) } }
        return UInt8(sum / ((y1 - y0) * (x1 - x0)))
    }
}
