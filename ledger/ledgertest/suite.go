package ledgertest

import (
	"testing"
)

// Run runs the whole conformance suite against stores made by newStore.
func Run(t *testing.T, newStore Factory) {
	tests := []struct {
		name string
		fn   func(*testing.T, Factory)
	}{
		{"Catalog", testCatalog},
		{"CatalogRowErrors", testCatalogRowErrors},
		{"Validation", testValidation},
		{"ItemValidation", testItemValidation},
		{"Replay", testReplay},
		{"OpConflict", testOpConflict},
		{"SeqGap", testSeqGap},
		{"RenumberedReplay", testRenumberedReplay},
		{"RevokedDevice", testRevokedDevice},
		{"ReceiveGeneratesBatch", testReceiveGeneratesBatch},
		{"BarcodeScan", testBarcodeScan},
		{"Transfer", testTransfer},
		{"ClockOffset", testClockOffset},
		{"NegativeStock", testNegativeStock},
		{"LastUnitTwoDevices", testLastUnitTwoDevices},
		{"ReturnMatching", testReturnMatching},
		{"ReturnSplit", testReturnSplit},
		{"WrongBatchReturn", testWrongBatchReturn},
		{"OverReturn", testOverReturn},
		{"UnknownOrder", testUnknownOrder},
		{"UnknownOrderHeld", testUnknownOrderHeld},
		{"Exchange", testExchange},
		{"CountVariance", testCountVariance},
		{"CountRederived", testCountRederived},
		{"CountAmbiguous", testCountAmbiguous},
		{"ExpiredBatch", testExpiredBatch},
		{"UnknownReference", testUnknownReference},
		{"ResolveAccept", testResolveAccept},
		{"ResolveReassignBatch", testResolveReassignBatch},
		{"ResolveReverse", testResolveReverse},
		{"ResolveAdjust", testResolveAdjust},
		{"ResolveHeldReturn", testResolveHeldReturn},
		{"ResolveErrors", testResolveErrors},
		{"Queries", testQueries},
		{"OpLog", testOpLog},
		{"TenantIsolation", testTenantIsolation},
		{"ConcurrentPushes", testConcurrentPushes},
		{"ConcurrentResolve", testConcurrentResolve},
		{"ShiftScenario", testShiftScenario},
		{"RegressionGeneratedLotFirstSeenOnPick", regression2GeneratedLotFirstSeenOnPick},
		{"RegressionRematchIgnoresCounts", regression2RematchIgnoresCounts},
		{"RegressionRematchMovesAnotherReturnsExcess", regression2RematchMovesAnotherReturnsExcess},
		{"RegressionLateShipmentDoubleOverReturn", regression2LateShipmentDoubleOverReturn},
		{"RegressionReverseCountAndAbsorbedPick", regression2ReverseCountAndAbsorbedPick},
		{"RegressionReversePickAndRematchedReturn", regression2ReversePickAndRematchedReturn},
		{"RegressionReassignAbsorbedPick", regression2ReassignAbsorbedPick},
		{"RegressionFutureDatedCountFreezesStock", regression2FutureDatedCountFreezesStock},
		{"RegressionReverseJoinedNegativeStockGoesSilent", regression2ReverseJoinedNegativeStockGoesSilent},
		{"RegressionCatalogExpiryNotJudged", regression2CatalogExpiryNotJudged},
		{"RegressionMapReferenceStealsCatalogBarcode", regression2MapReferenceStealsCatalogBarcode},
		{"RegressionAdjustIgnoresSKU", regression2AdjustIgnoresSKU},
		{"RegressionReceiveConflictingExpiryIgnored", regression2ReceiveConflictingExpiryIgnored},
		{"RegressionDuplicateReviewIDs", regression2DuplicateReviewIDs},
		{"RegressionExchangeArrivalOrder", regressionExchangeArrivalOrder},
		{"RegressionReverseUndoesUnrelatedAdjust", regressionReverseUndoesUnrelatedAdjust},
		{"RegressionReverseAfterAdjustSameBinPostsNothing", regressionReverseAfterAdjustSameBinPostsNothing},
		{"RegressionReassignPickKeepsOrderShippedOnOldBatch", regressionReassignPickKeepsOrderShippedOnOldBatch},
		{"RegressionReversePickKeepsOrderShipped", regressionReversePickKeepsOrderShipped},
		{"RegressionSplitOverReturnArrivalOrder", regressionSplitOverReturnArrivalOrder},
		{"RegressionExpiryLostWhenBatchFirstSeenOnPick", regressionExpiryLostWhenBatchFirstSeenOnPick},
		{"RegressionSameTimeCountsArrivalOrder", regressionSameTimeCountsArrivalOrder},
		{"RegressionQtyOverflow", regressionQtyOverflow},
		{"RegressionReverseAbsorbedReturnKeepsOrderReturned", regressionReverseAbsorbedReturnKeepsOrderReturned},
		{"RegressionReassignHeldReturnReopensReview", regressionReassignHeldReturnReopensReview},
		{"RegressionAdjustNoBatchOnTrackedItem", regressionAdjustNoBatchOnTrackedItem},
		{"RegressionMapReferenceSelfTransfer", regressionMapReferenceSelfTransfer},
		{"RegressionMapReferenceIgnoresSKU", regressionMapReferenceIgnoresSKU},
		{"RegressionUnexpectedRefReasonAccepted", regressionUnexpectedRefReasonAccepted},
		{"RegressionGeneratedBatchCollision", regressionGeneratedBatchCollision},
		{"RegressionGeneratedBatchCodeNotReproducibleOffline", regressionGeneratedBatchCodeNotReproducibleOffline},
		{"RegressionResolutionDrivesStockNegativeSilently", regressionResolutionDrivesStockNegativeSilently},
		{"RegressionReassignReturnOverReturnUnflagged", regressionReassignReturnOverReturnUnflagged},
		{"RegressionNilOpIDTakesCanonicalSlot", regressionNilOpIDTakesCanonicalSlot},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tc.fn(t, newStore)
		})
	}
}
