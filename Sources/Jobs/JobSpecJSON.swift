import Metrics
import Storage
import Trainer

/// `job.json`: a ``JobSpec`` as JSON, with its format version. Unset options are `null`
/// (the default applies), seeds are exact integers.
extension JobSpec {
    public var json: JSON {
        .object([("format_version", .int(Self.formatVersion)), ("command", .string(command)),
                 ("data", data.json), ("training", training.json), ("protocol", `protocol`.json),
                 ("device", device.map(JSON.string) ?? .null), ("shard", shard.map { .string($0.description) } ?? .null)])
    }

    /// The spec `json` holds; `file` names it in errors.
    public init(json: JSON, file: String) throws {
        let root = Fields(json, file: file, at: "")
        try root.only(["format_version", "command", "data", "training", "protocol", "device", "shard", "data_fingerprint", "backend", "units"])
        let version = try root.int("format_version")
        guard version == Self.formatVersion else {
            throw TrainerError.invalid("\(file) is a job of format \(version); this sieve reads format \(Self.formatVersion)")
        }
        self.init(protocol: try ProtocolSpec(try root.object("protocol"), command: try root.string("command")))
        data = try DataSpec(try root.object("data"))
        training = try TrainingSpec(try root.object("training"))
        device = try root.optionalString("device")
        shard = try root.optionalString("shard").map { try Shard(parsing: $0) }
    }

    /// Reads `path` (a run's or a unit folder's `job.json`).
    public static func read(path: String) throws -> JobSpec { try JobSpec(json: try JSONReader.read(path: path), file: path) }
}

extension DataSpec {
    var json: JSON {
        .object([("source", .string(source)), ("limit", limit.map(JSON.int) ?? .null), ("test_limit", testLimit.map(JSON.int) ?? .null),
                 ("val", val.map(JSON.double) ?? .null), ("val_seed", .uint(valSeed)), ("classes", classes.map(JSON.int) ?? .null),
                 ("noise", noise.map { .string($0.description) } ?? .null), ("noise_seed", .uint(noiseSeed)),
                 ("resize", resize.map { .string($0.description) } ?? .null)])
    }

    init(_ f: Fields) throws {
        self.init()
        try f.only(["source", "limit", "test_limit", "val", "val_seed", "classes", "noise", "noise_seed", "resize"])
        source = try f.string("source")
        limit = try f.optionalInt("limit")
        testLimit = try f.optionalInt("test_limit")
        val = try f.optionalDouble("val")
        valSeed = try f.uint64("val_seed")
        classes = try f.optionalInt("classes")
        noise = try f.optionalString("noise").map { try LabelNoise(parsing: $0) }
        noiseSeed = try f.uint64("noise_seed")
        // absent: a job recorded before --resize existed, which resized nothing
        resize = f.json["resize"] == nil ? nil : try f.optionalString("resize").map { try ImageResize(parsing: $0) }
    }
}

extension TrainingSpec {
    var json: JSON {
        .object([("model", .string(model.rawValue)), ("width", .int(width)), ("batch", .int(batch)),
                 ("lr", lr.map(JSON.float) ?? .null), ("schedule", .string(schedule.spec)), ("warmup", .int(warmup)),
                 ("momentum", .float(momentum)), ("nesterov", .bool(nesterov)), ("weight_decay", .float(weightDecay)),
                 ("augment", augment.map { .string($0.description) } ?? .null)])
    }

    init(_ f: Fields) throws {
        self.init()
        try f.only(["model", "width", "batch", "lr", "schedule", "warmup", "momentum", "nesterov", "weight_decay", "augment"])
        let name = try f.string("model")
        guard let m = Architecture(rawValue: name) else { throw f.bad("model", "is \(name), which this sieve does not know") }
        model = m
        width = try f.int("width")
        batch = try f.int("batch")
        lr = try f.optionalFloat("lr")
        schedule = try ScheduleKind(parsing: try f.string("schedule"))
        warmup = try f.int("warmup")
        momentum = try f.float("momentum")
        nesterov = try f.bool("nesterov")
        weightDecay = try f.float("weight_decay")
        augment = try f.optionalString("augment").map { try AugmentationSpec(parsing: $0) }
    }
}

extension ProtocolSpec {
    var json: JSON {
        switch self {
        case .grand(let e), .el2n(let e):
            return .object([("runs", .int(e.runs)), ("at_epoch", .int(e.atEpoch)),
                            ("schedule_epochs", e.scheduleEpochs.map(JSON.int) ?? .null), ("first_seed", .uint(e.firstSeed))])
        case .dynamics(let d):
            return .object([("epochs", .int(d.epochs)), ("seed", .uint(d.seed)), ("aum_from", d.aumFrom.map(JSON.int) ?? .null),
                            ("aum_threshold", .bool(d.aumThreshold)), ("vog", .bool(d.vog))])
        case .ssft(let s):
            return .object([("epochs", .int(s.epochs)), ("seeds", .int(s.seeds)), ("first_seed", .uint(s.firstSeed))])
        case .pruneCurve(let p):
            return .object([("scores_file", .string(p.scoresFile)), ("scores", .array(p.scores.map(JSON.string))),
                            ("selections", .array(p.selections.map(\.json))),
                            ("direction", p.direction.map { .string($0.rawValue) } ?? .null),
                            ("seeds", .int(p.seeds)), ("epochs", .int(p.epochs)),
                            ("scores_fingerprint", p.scoresFingerprint.map(JSON.string) ?? .null)])
        case .clean(let c):
            return .object([("audit", .string(c.audit)), ("mode", .string(c.mode.rawValue)), ("seeds", .int(c.seeds)),
                            ("epochs", .int(c.epochs)), ("oracle", .bool(c.oracle)), ("issues_fingerprint", c.issuesFingerprint.map(JSON.string) ?? .null)])
        case .audit(let a):
            return .object([("epochs", .int(a.epochs)), ("seed", .uint(a.seed)),
                            ("checkpoints", a.checkpoints.map { .array($0.map(JSON.int)) } ?? .null),
                            ("verdict_epochs", a.verdictEpochs.map { .array($0.map(JSON.int)) } ?? .null), ("inits", .int(a.inits)),
                            ("ssft", .bool(a.ssft)), ("ssft_epochs", a.ssftEpochs.map(JSON.int) ?? .null), ("folds", .int(a.folds)),
                            ("vog", .bool(a.vog)), ("aum_threshold", .bool(a.aumThreshold)), ("aum_from", a.aumFrom.map(JSON.int) ?? .null)])
        }
    }

    init(_ f: Fields, command: String) throws {
        switch command {
        case "score grand", "score el2n":
            try f.only(["runs", "at_epoch", "schedule_epochs", "first_seed"])
            let e = EnsembleSpec(runs: try f.int("runs"), atEpoch: try f.int("at_epoch"), scheduleEpochs: try f.optionalInt("schedule_epochs"),
                                 firstSeed: try f.uint64("first_seed"))
            self = command == "score grand" ? .grand(e) : .el2n(e)
        case "score dynamics":
            try f.only(["epochs", "seed", "aum_from", "aum_threshold", "vog"])
            var d = DynamicsSpec()
            d.epochs = try f.int("epochs"); d.seed = try f.uint64("seed"); d.aumFrom = try f.optionalInt("aum_from")
            d.aumThreshold = try f.bool("aum_threshold"); d.vog = try f.bool("vog")
            self = .dynamics(d)
        case "score ssft":
            try f.only(["epochs", "seeds", "first_seed"])
            var s = SSFTSpec()
            s.epochs = try f.int("epochs"); s.seeds = try f.int("seeds"); s.firstSeed = try f.uint64("first_seed")
            self = .ssft(s)
        case "prune-curve":
            try f.only(["scores_file", "scores", "selections", "direction", "seeds", "epochs", "scores_fingerprint"])
            let selections = try f.array("selections").enumerated().map { k, s in try PruneSelection(json: s, f.nested("selections[\(k)]", s)) }
            var p = PruneCurveSpec(scoresFile: try f.string("scores_file"), scores: try f.strings("scores"), selections: selections)
            if let d = try f.optionalString("direction") {
                guard let direction = ScoreDirection(rawValue: d) else { throw f.bad("direction", "is \(d), not higher or lower") }
                p.direction = direction
            }
            p.seeds = try f.int("seeds"); p.epochs = try f.int("epochs"); p.scoresFingerprint = try f.optionalString("scores_fingerprint")
            self = .pruneCurve(p)
        case "audit":
            try f.only(["epochs", "seed", "checkpoints", "verdict_epochs", "inits", "ssft", "ssft_epochs", "folds", "vog", "aum_threshold", "aum_from"])
            var a = AuditSpec()
            a.epochs = try f.int("epochs"); a.seed = try f.uint64("seed"); a.checkpoints = try f.optionalInts("checkpoints")
            a.verdictEpochs = try f.optionalInts("verdict_epochs")
            a.inits = try f.int("inits"); a.ssft = try f.bool("ssft"); a.ssftEpochs = try f.optionalInt("ssft_epochs")
            a.folds = try f.int("folds"); a.vog = try f.bool("vog"); a.aumThreshold = try f.bool("aum_threshold")
            a.aumFrom = try f.optionalInt("aum_from")
            self = .audit(a)
        case "clean":
            try f.only(["audit", "mode", "seeds", "epochs", "oracle", "issues_fingerprint"])
            var c = CleanSpec(audit: try f.string("audit"))
            let mode = try f.string("mode")
            guard let m = CleanSpec.Mode(rawValue: mode) else { throw f.bad("mode", "is \(mode), not drop, relabel or fix") }
            c.mode = m; c.seeds = try f.int("seeds"); c.epochs = try f.int("epochs"); c.oracle = try f.bool("oracle"); c.issuesFingerprint = try f.optionalString("issues_fingerprint")
            self = .clean(c)
        default:
            throw TrainerError.invalid("\(f.file): command \(command) is not one that runs units")
        }
    }
}

extension PruneSelection {
    var json: JSON {
        switch self {
        case .dropSuspicious(let f): .object([("drop_suspicious", .double(f))])
        case .keepHardest(let f, let w): .object([("keep_hardest", .double(f)), ("window", .int(w))])
        case .keepRandom(let f, let seed): .object([("keep_random", .double(f)), ("seed", .uint(seed))])
        case .coverage(let f, let cut, let perClass):
            .object([("coverage", .double(f)), ("hard_cut", .double(cut)), ("per_class", .bool(perClass))])
        }
    }

    init(json: JSON, _ f: Fields) throws {
        if json["drop_suspicious"] != nil { try f.only(["drop_suspicious"]); self = .dropSuspicious(try f.double("drop_suspicious")) }
        else if json["keep_hardest"] != nil { try f.only(["keep_hardest", "window"]); self = .keepHardest(try f.double("keep_hardest"), window: try f.int("window")) }
        else if json["keep_random"] != nil { try f.only(["keep_random", "seed"]); self = .keepRandom(try f.double("keep_random"), seed: try f.uint64("seed")) }
        else if json["coverage"] != nil {
            // per_class absent: a job recorded before classes were sampled on their own, which pooled them
            try f.only(["coverage", "hard_cut", "per_class"])
            self = .coverage(try f.double("coverage"), hardCut: try f.double("hard_cut"),
                             perClass: json["per_class"] == nil ? false : try f.bool("per_class"))
        }
        else { throw f.bad("", "is no selection (drop_suspicious, keep_hardest, keep_random or coverage)") }
    }
}

/// Reads the members of one JSON object strictly, naming the file and the member in errors.
struct Fields {
    let json: JSON
    let file: String
    let at: String

    init(_ json: JSON, file: String, at: String) { self.json = json; self.file = file; self.at = at }

    func bad(_ key: String, _ what: String) -> TrainerError {
        .invalid("\(file): \(at.isEmpty ? "" : at + ".")\(key) \(what); it is not a job file this sieve wrote")
    }

    /// Refuses a member not in `keys` (a misspelt member would otherwise be a default).
    func only(_ keys: Set<String>) throws {
        if let other = json.object?.first(where: { !keys.contains($0.key) }) { throw bad(other.key, "is not a member of a job") }
    }

    func nested(_ key: String, _ value: JSON) -> Fields { Fields(value, file: file, at: at.isEmpty ? key : at + "." + key) }

    private func value(_ key: String) throws -> JSON {
        guard json.object != nil else { throw bad("", "is not an object") }
        guard let v = json[key] else { throw bad(key, "is missing") }
        return v
    }

    func object(_ key: String) throws -> Fields {
        let v = try value(key)
        guard v.object != nil else { throw bad(key, "is not an object") }
        return nested(key, v)
    }

    func array(_ key: String) throws -> [JSON] {
        guard let a = try value(key).array else { throw bad(key, "is not an array") }
        return a
    }

    func int(_ key: String) throws -> Int {
        guard let i = try value(key).int else { throw bad(key, "is not an integer") }
        return i
    }

    func uint64(_ key: String) throws -> UInt64 {
        guard let u = try value(key).number?.uint64 else { throw bad(key, "is not a non-negative integer") }
        return u
    }

    func double(_ key: String) throws -> Double {
        guard let d = try value(key).double else { throw bad(key, "is not a number") }
        return d
    }

    /// A Float as ``JSON/float(_:)`` writes it: read back from its text, exactly.
    func float(_ key: String) throws -> Float {
        guard let n = try value(key).number, let f = Float(n.text) else { throw bad(key, "is not a number") }
        return f
    }

    func optionalFloat(_ key: String) throws -> Float? { try value(key).isNull ? nil : try float(key) }

    func bool(_ key: String) throws -> Bool {
        guard let b = try value(key).bool else { throw bad(key, "is not true or false") }
        return b
    }

    func string(_ key: String) throws -> String {
        guard let s = try value(key).string else { throw bad(key, "is not a string") }
        return s
    }

    func strings(_ key: String) throws -> [String] {
        let a = try array(key)
        let s = a.compactMap(\.string)
        guard s.count == a.count else { throw bad(key, "is not an array of strings") }
        return s
    }

    func optionalInt(_ key: String) throws -> Int? { try value(key).isNull ? nil : try int(key) }
    func optionalDouble(_ key: String) throws -> Double? { try value(key).isNull ? nil : try double(key) }
    func optionalString(_ key: String) throws -> String? { try value(key).isNull ? nil : try string(key) }

    func optionalInts(_ key: String) throws -> [Int]? {
        if try value(key).isNull { return nil }
        let a = try array(key)
        let i = a.compactMap(\.int)
        guard i.count == a.count else { throw bad(key, "is not an array of integers") }
        return i
    }
}
