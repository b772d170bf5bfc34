package sqlite

import (
	"context"
	"errors"
	"time"

	"github.com/google/uuid"

	"stocksync/ledger"
)

// errTODO marks store methods still being written.
var errTODO = errors.New("not implemented yet")

func (s *Store) InsertAPIKey(ctx context.Context, k ledger.APIKey) error { return errTODO }
func (s *Store) RevokeAPIKey(ctx context.Context, tenantID, keyID uuid.UUID, at time.Time) error {
	return errTODO
}
func (s *Store) InsertEnrollmentCode(ctx context.Context, c ledger.EnrollmentCode) error {
	return errTODO
}
func (s *Store) ReportDevice(ctx context.Context, tenantID, deviceID uuid.UUID, r ledger.DeviceReport) error {
	return errTODO
}
func (r *readTx) LedgerState(ctx context.Context, tenantID uuid.UUID) (ledger.LedgerState, error) {
	return ledger.LedgerState{}, errTODO
}
func (r *readTx) APIKeyByHash(ctx context.Context, tenantID uuid.UUID, hash []byte) (ledger.APIKey, error) {
	return ledger.APIKey{}, errTODO
}
func (r *readTx) APIKeys(ctx context.Context, tenantID uuid.UUID) ([]ledger.APIKey, error) {
	return nil, errTODO
}
func (r *readTx) EnrollmentCodeByHash(ctx context.Context, hash []byte) (ledger.EnrollmentCode, error) {
	return ledger.EnrollmentCode{}, errTODO
}
func (r *readTx) DeviceByTokenHash(ctx context.Context, tenantID uuid.UUID, hash []byte) (ledger.Device, error) {
	return ledger.Device{}, errTODO
}
func (r *readTx) ItemsChanged(ctx context.Context, tenantID uuid.UUID, after ledger.FeedKey, upto int64, limit int) ([]ledger.Item, error) {
	return nil, errTODO
}
func (r *readTx) BatchesChanged(ctx context.Context, tenantID uuid.UUID, after ledger.FeedKey, upto int64, limit int) ([]ledger.Batch, error) {
	return nil, errTODO
}
func (r *readTx) LocationsChanged(ctx context.Context, tenantID, warehouseID uuid.UUID, after ledger.FeedKey, upto int64, limit int) ([]ledger.Location, error) {
	return nil, errTODO
}
func (r *readTx) BalancesChanged(ctx context.Context, tenantID, warehouseID uuid.UUID, after ledger.FeedKey, upto int64, limit int) ([]ledger.BalanceRow, error) {
	return nil, errTODO
}
func (r *readTx) DeviceReviewsChanged(ctx context.Context, tenantID, deviceID uuid.UUID, after ledger.FeedKey, upto int64, limit int) ([]ledger.Review, error) {
	return nil, errTODO
}
func (w *writeTx) ClaimEnrollmentCode(ctx context.Context, tenantID, codeID, deviceID uuid.UUID, at time.Time) error {
	return errTODO
}
func (w *writeTx) InsertDeviceToken(ctx context.Context, t ledger.DeviceToken) error {
	return errTODO
}
