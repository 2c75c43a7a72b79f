import Metrics

/// Everything one `report.html` shows about a scoring run. The report reads nothing
/// itself: the caller hands it the scores, the labels and (optionally) a way to fetch
/// the pixels of an example.
public struct ReportInput {
    /// The page title, e.g. `"sieve audit: fashion-mnist, 12000 examples"`.
    public var title: String
    /// Key/value lines shown at the top, in order (command, model, epochs, device,
    /// seconds, test accuracy, warnings, ...).
    public var facts: [(String, String)]
    /// The per-example scores, each with the direction that means "suspicious".
    /// A score whose length is not `givenLabels.count` is left out with a warning.
    public var scores: [Score]
    /// The label of every example as training saw it.
    public var givenLabels: [Int32]
    /// The labels before noise was injected; when present, an example is *flipped*
    /// where it differs from `givenLabels`, and the page evaluates every score at
    /// finding the flipped examples.
    public var originalLabels: [Int32]?
    /// One name per class (`"0"`, `"1"`, ... when unknown). Labels beyond the list are
    /// shown as their number.
    public var classNames: [String]
    /// `||x_i||` of every example, added to the correlation matrix as `input_norm`.
    public var inputNorm: [Double]?
    /// The pixels for the image grids; nil leaves the grids out with a note.
    public var images: ReportImages?
    /// The file path of every example (ImageFolder data), shown as tooltips.
    public var paths: [String]?
    /// The points of a prune-curve run, when there was one.
    public var pruneCurve: [PruneCurvePoint]?
    /// The audit's verdict, shown first: the estimated number of label errors and the
    /// flagged examples with their suggested labels.
    public var verdict: ReportVerdict?
    /// The pairs of near duplicates an audit found in its embeddings (near_duplicates.csv),
    /// those with conflicting labels first.
    public var nearDuplicates: [NearDuplicatePair]?

    /// A report input; everything but the title, the scores and the labels is optional.
    public init(title: String, facts: [(String, String)] = [], scores: [Score], givenLabels: [Int32],
                originalLabels: [Int32]? = nil, classNames: [String], inputNorm: [Double]? = nil,
                images: ReportImages? = nil, paths: [String]? = nil, pruneCurve: [PruneCurvePoint]? = nil, verdict: ReportVerdict? = nil,
                nearDuplicates: [NearDuplicatePair]? = nil) {
        self.title = title; self.facts = facts; self.scores = scores
        self.givenLabels = givenLabels; self.originalLabels = originalLabels; self.classNames = classNames
        self.inputNorm = inputNorm; self.images = images; self.paths = paths; self.pruneCurve = pruneCurve
        self.verdict = verdict; self.nearDuplicates = nearDuplicates
    }

    /// The number of examples.
    public var count: Int { givenLabels.count }
}

/// What the report shows of an audit's verdict (docs/scores.md, "The verdict and the suspicion").
public struct ReportVerdict {
    public var estimated: Double
    public var interval: (low: Double, high: Double)
    /// Flagged examples, most suspicious first, and their suggested labels.
    public var flagged: [Int]
    public var suggested: [Int32]

    public init(estimated: Double, interval: (low: Double, high: Double), flagged: [Int], suggested: [Int32]) {
        self.estimated = estimated; self.interval = interval; self.flagged = flagged; self.suggested = suggested
    }
}

/// Two training examples whose embeddings are nearly the same (cosine distance).
public struct NearDuplicatePair: Sendable, Equatable {
    public var first: Int
    public var second: Int
    public var distance: Double
    public init(first: Int, second: Int, distance: Double) {
        self.first = first; self.second = second; self.distance = distance
    }
}

/// Access to the pixels of the examples, one at a time: the report asks only for the
/// few it draws (at most 128 per score), so a data set is never copied.
public struct ReportImages {
    /// 1 (gray) or 3 (RGB); other counts are drawn from their first channel as gray.
    public var channels: Int
    public var height: Int
    public var width: Int
    /// The pixels of example `i`, channel-major (CHW), `channels * height * width`
    /// values in 0...255 (a tile of another length is drawn grey). Called for at most
    /// 128 examples per score, one call at a time, possibly from different threads.
    public var pixel: (Int) -> [UInt8]

    /// Images of `channels x height x width` pixels, fetched by `pixel(i)` (CHW, 0...255).
    public init(channels: Int, height: Int, width: Int, pixel: @escaping (Int) -> [UInt8]) {
        self.channels = channels; self.height = height; self.width = width; self.pixel = pixel
    }
}

/// One point of a prune curve: test accuracy after training on the examples a
/// selection kept, and the same for random subsets of the same size.
public struct PruneCurvePoint {
    /// The fraction of the training examples kept (the x axis).
    public var fraction: Double
    /// The selection, e.g. `"aum, drop-suspicious"`; one line per distinct selection.
    public var selection: String
    /// Mean test accuracy over seeds, in 0...1.
    public var meanAccuracy: Double
    /// Standard deviation of the test accuracy over seeds (the error bar).
    public var std: Double
    /// Mean test accuracy of random subsets of the same size, when measured.
    public var randomMeanAccuracy: Double?
    /// Its standard deviation over seeds.
    public var randomStd: Double?

    /// A point of a prune curve.
    public init(fraction: Double, selection: String, meanAccuracy: Double, std: Double,
                randomMeanAccuracy: Double? = nil, randomStd: Double? = nil) {
        self.fraction = fraction; self.selection = selection; self.meanAccuracy = meanAccuracy; self.std = std
        self.randomMeanAccuracy = randomMeanAccuracy; self.randomStd = randomStd
    }
}
