import CPNG

/// 8-bit PNG encoding through libpng's simplified API (`png_image_write_to_memory`),
/// which catches libpng's errors itself: no `longjmp` ever crosses Swift frames.
enum PNGEncoder {
    /// The PNG bytes of a `width x height` image with `channels` interleaved 8-bit
    /// channels per pixel (1 = gray, 3 = RGB), rows top to bottom; nil (with libpng's
    /// message in `error`) if libpng refuses.
    static func encode(_ pixels: [UInt8], width: Int, height: Int, channels: Int, fast: Bool = false) -> (png: [UInt8]?, error: String?) {
        precondition(channels == 1 || channels == 3, "PNGEncoder: \(channels) channels (1 or 3 supported)")
        precondition(width > 0 && height > 0 && pixels.count == width * height * channels,
                     "PNGEncoder: \(pixels.count) bytes for \(width)x\(height)x\(channels)")
        var image = png_image()
        image.version = png_uint_32(PNG_IMAGE_VERSION)
        image.width = png_uint_32(width)
        image.height = png_uint_32(height)
        image.format = channels == 3 ? png_uint_32(PNG_FORMAT_RGB) : png_uint_32(PNG_FORMAT_GRAY)
        if fast { image.flags = png_uint_32(PNG_IMAGE_FLAG_FAST) }
        let stride = png_int_32(width * channels)
        return pixels.withUnsafeBytes { raw -> ([UInt8]?, String?) in
            // First call: the size only; second: the bytes.
            var size = 0
            guard png_image_write_to_memory(&image, nil, &size, 0, raw.baseAddress, stride, nil) != 0 else {
                return (nil, message(&image))
            }
            var png = [UInt8](repeating: 0, count: size)
            let ok = png.withUnsafeMutableBytes { out in
                png_image_write_to_memory(&image, out.baseAddress, &size, 0, raw.baseAddress, stride, nil)
            }
            png_image_free(&image)
            guard ok != 0 else { return (nil, message(&image)) }
            return (Array(png.prefix(size)), nil)
        }
    }

    /// libpng's error text from a `png_image` (a fixed C char array).
    static func message(_ image: inout png_image) -> String {
        withUnsafeBytes(of: &image.message) { raw in
            String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self)
        }
    }
}
