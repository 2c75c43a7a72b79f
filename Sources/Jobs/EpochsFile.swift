import Trainer

/// `epochs.csv` of `sieve train`: one row per epoch (1-based), as each epoch ends.
extension EpochSummary {
    public static let csvHeader = "epoch,lr,train_loss,train_accuracy,test_loss,test_accuracy,train_seconds,examples_per_second\n"

    /// The epoch's row (empty test fields without a test set).
    public var csvRow: String {
        "\(epoch + 1),\(learningRate),\(trainLoss),\(trainAccuracy),"
            + "\(testLoss.map { "\($0)" } ?? ""),\(testAccuracy.map { "\($0)" } ?? ""),"
            + "\(trainSeconds),\(examplesPerSecond)\n"
    }
}
