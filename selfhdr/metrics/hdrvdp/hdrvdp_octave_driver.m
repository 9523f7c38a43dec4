function hdrvdp_octave_driver(in_file, out_file, toolbox_dir, shim_dir)
% Runs HDR-VDP 2.2.2's hdrvdp() on every case of in_file (written by selfhdr.metrics.hdrvdp.octave)
% and saves Q, P_det, C_max, P_map and the seconds of the hdrvdp() call per case to out_file.
% Octave only; see selfhdr/metrics/hdrvdp/octave.py.
pkg load image
addpath(shim_dir);
addpath(toolbox_dir);
addpath(fullfile(toolbox_dir, 'matlabPyrTools_1.4_fixed'));
warning('off', 'hdrvdp:lowvals');
S = load(in_file);
names = S.case_names;
out = struct();
for k = 1:numel(names)
  c = S.(names{k});
  opts = {};
  for j = 1:numel(c.opt_names)
    opts = [opts, {c.opt_names{j}, c.opt_values{j}}];
  end
  test = double(c.test);
  ref = double(c.ref);
  t0 = tic();
  res = hdrvdp(test, ref, c.enc, double(c.ppd), opts);
  seconds = toc(t0);
  r = struct('Q', res.Q, 'P_det', res.P_det, 'C_max', res.C_max, 'P_map', res.P_map, 'seconds', seconds);
  out.(names{k}) = r;
  printf('%s Q=%.10g P_det=%.10g C_max=%.10g\n', names{k}, res.Q, res.P_det, res.C_max);
end
out.octave_version = version();
p = pkg('list', 'image');
out.image_pkg_version = p{1}.version;
save('-v7', out_file, '-struct', 'out');
end
