-- Reviewers can move a cut by a few frames from the review page's timeline; the audit
-- records it as a 'move' (undone by moving the cut back).
ALTER TABLE review_actions DROP CONSTRAINT review_actions_action_check;
ALTER TABLE review_actions ADD CONSTRAINT review_actions_action_check CHECK (action IN
    ('approve', 'skip', 'archive', 'merge', 'group', 'split', 'move', 'undo'));
