-- History pages are read newest first by revision (versions restart when a config is deleted in SQL and
-- created again, revisions never do). The index on version could not give that order: a page of a long
-- history sorted the config's whole history, or walked the whole log backwards past other configs' rows.
CREATE INDEX "config_audit_log_service_name_environment_revision_idx" ON "config_audit_log"("service_name", "environment", "revision");
