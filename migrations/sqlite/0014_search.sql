-- Search (`GET /api/v1/k8s/search`): the labels and images of the kinds that carry them, as
-- text a `LIKE` reads without parsing JSON per row. Labels are "\nkey=value" per label and a
-- final "\n" ('' for none), so `label:app=web` is `LIKE '%\napp=web\n%'` and `label:app` is
-- `LIKE '%\napp=%'`; images are "\nimage" per image and a final "\n". Ingest fills them in
-- the same upsert as the rest of the row; existing rows are filled here from `data`.
ALTER TABLE k8s_nodes ADD COLUMN search_labels TEXT NOT NULL DEFAULT '';
ALTER TABLE k8s_namespaces ADD COLUMN search_labels TEXT NOT NULL DEFAULT '';
ALTER TABLE k8s_deployments ADD COLUMN search_labels TEXT NOT NULL DEFAULT '';
ALTER TABLE k8s_deployments ADD COLUMN search_images TEXT NOT NULL DEFAULT '';

UPDATE k8s_nodes SET search_labels = coalesce(
    (SELECT group_concat(char(10) || key || '=' || value, '') FROM json_each(data, '$.labels'))
    || char(10), '');
UPDATE k8s_namespaces SET search_labels = coalesce(
    (SELECT group_concat(char(10) || key || '=' || value, '') FROM json_each(data, '$.labels'))
    || char(10), '');
UPDATE k8s_deployments SET
    search_labels = coalesce(
        (SELECT group_concat(char(10) || key || '=' || value, '') FROM json_each(data, '$.labels'))
        || char(10), ''),
    search_images = coalesce(
        (SELECT group_concat(char(10) || value, '') FROM json_each(data, '$.images'))
        || char(10), '');
