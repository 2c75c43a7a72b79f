/// Input the scores and selections cannot work with (a NaN score, a fraction out of
/// range): exit code 2 in the CLI.
public enum MetricsError: Error, CustomStringConvertible {
    case invalidInput(String)

    public var description: String {
        switch self {
        case .invalidInput(let what): what
        }
    }
}
