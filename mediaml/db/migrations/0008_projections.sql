-- The explore map as a stored artefact: 2-D coordinates per embedded clip, per embedding
-- variant and projection method, computed by the update_maps job (mediaml.projections)
-- off the request path and read by the dashboard in one query.

-- One fitted projection per (model, strategy, method): the fit itself (PCA mean and axes
-- as .npz, or a pickled UMAP model) so new clips are placed without refitting, and
-- the watermark of embeddings already placed.
CREATE TABLE projection_fits (
    id                  integer GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    model_name          text NOT NULL,
    generation_strategy text NOT NULL,
    method              text NOT NULL CHECK (method IN ('PCA', 'UMAP')),
    dim                 integer NOT NULL CHECK (dim > 0),
    sample_size         integer NOT NULL CHECK (sample_size > 0),  -- clips the fit saw
    clips_at_fit        integer NOT NULL,   -- clips embedded then; refit when they double
    fit                 bytea NOT NULL,
    fitted_at           timestamptz NOT NULL DEFAULT now(),
    placed_through      timestamptz,  -- embeddings.updated_at placed so far (NULL: none)
    updated_at          timestamptz NOT NULL DEFAULT now(),        -- points last changed
    UNIQUE (model_name, generation_strategy, method)
);

CREATE TABLE clip_projections (
    fit_id      integer NOT NULL REFERENCES projection_fits (id) ON DELETE CASCADE,
    clip_id     bigint NOT NULL REFERENCES clips (id) ON DELETE CASCADE,
    x           real NOT NULL,
    y           real NOT NULL,
    placed_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (fit_id, clip_id)
);
CREATE INDEX clip_projections_clip_idx ON clip_projections (clip_id);

-- The job asks "which vectors of this variant changed since the watermark": this index
-- answers it without reading the (large) embedding rows.
CREATE INDEX embeddings_variant_updated_idx
    ON embeddings (model_name, generation_strategy, updated_at);
